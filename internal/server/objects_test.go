package server_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// cleanupObjects removes, when the test ends, the configs, secrets and
// networks named (after the services, which cleanupServices removes).
func cleanupObjects(t *testing.T, paths ...string) {
	t.Cleanup(func() {
		for _, p := range paths {
			call(t, http.MethodDelete, p, "")
		}
	})
}

func decodeAs[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestSecretDataNeverReturned(t *testing.T) {
	cleanupObjects(t, "/v1/secrets/srv-db")
	plain := "Sup3r-S3cret-Value"
	enc := base64.StdEncoding.EncodeToString([]byte(plain))
	srv := httptest.NewServer(testAPI)
	t.Cleanup(srv.Close)
	events := openEvents(t, srv, "?type=secret")
	if ev := events.next(); ev.Type != "sync" {
		t.Fatalf("first event %+v", ev)
	}

	leaks := func(what string, b []byte) {
		t.Helper()
		if bytes.Contains(b, []byte(plain)) || bytes.Contains(b, []byte(enc)) || bytes.Contains(b, []byte(`"Data"`)) {
			t.Errorf("%s returns the secret's data: %s", what, b)
		}
	}
	code, b := call(t, http.MethodPost, "/v1/secrets", mustJSON(api.SecretSpec{Name: "srv-db", Data: []byte(plain), Labels: map[string]string{"a": "1"}}))
	if code != http.StatusCreated {
		t.Fatalf("create secret: %d %s", code, b)
	}
	leaks("create", b)
	sec := decodeAs[api.Secret](t, b)
	if sec.ID == "" || sec.Spec.Name != "srv-db" || sec.Spec.Labels["a"] != "1" {
		t.Fatalf("created %s", b)
	}
	for _, path := range []string{"/v1/secrets/srv-db", "/v1/secrets/" + sec.ID, "/v1/secrets/" + sec.ID[:8], "/v1/secrets"} {
		code, b := call(t, http.MethodGet, path, "")
		if code != http.StatusOK || !strings.Contains(string(b), sec.ID) {
			t.Errorf("GET %s: %d %s", path, code, b)
		}
		leaks("GET "+path, b)
	}
	code, b = call(t, http.MethodPost, "/v1/secrets/srv-db/update", `{"Labels":{"b":"2"}}`)
	if code != http.StatusOK || decodeAs[api.Secret](t, b).Spec.Labels["b"] != "2" {
		t.Errorf("update labels: %d %s", code, b)
	}
	leaks("update", b)
	if msg := callError(t, http.MethodPost, "/v1/secrets/srv-db/update", mustJSON(api.SecretSpec{Data: []byte("new")}), http.StatusBadRequest); !strings.Contains(msg, "only labels") {
		t.Errorf("data change message %q", msg)
	}
	ev := events.next()
	if ev.Type != api.EventSecret || ev.Action != api.ActionCreate || ev.Secret == nil || ev.Secret.Spec.Data != nil {
		t.Errorf("create event %+v: want the secret without data", ev)
	}
	if ev := events.next(); ev.Type != api.EventSecret || ev.Action != api.ActionUpdate || ev.Secret.Spec.Data != nil {
		t.Errorf("update event %+v", ev)
	}
	if msg := callError(t, http.MethodPost, "/v1/secrets", mustJSON(api.SecretSpec{Name: "srv-db", Data: []byte("x")}), http.StatusConflict); msg != `secret "srv-db" already exists` {
		t.Errorf("conflict message %q", msg)
	}
	if msg := callError(t, http.MethodPost, "/v1/secrets", mustJSON(api.SecretSpec{Name: "big", Data: make([]byte, api.MaxSecretSize+1)}), http.StatusBadRequest); !strings.Contains(msg, "500 KB") {
		t.Errorf("too big message %q", msg)
	}
	callError(t, http.MethodGet, "/v1/secrets/nope", "", http.StatusNotFound)
}

func TestConfigsAndInUse(t *testing.T) {
	cleanupServices(t)
	cleanupObjects(t, "/v1/configs/srv-app.yml", "/v1/secrets/srv-pw", "/v1/networks/srv-front")
	code, b := call(t, http.MethodPost, "/v1/configs", mustJSON(api.ConfigSpec{Name: "srv-app.yml", Data: []byte("a: 1")}))
	if code != http.StatusCreated {
		t.Fatalf("create config: %d %s", code, b)
	}
	cfg := decodeAs[api.Config](t, b)
	// Like docker, a config's data shows in inspect.
	code, b = call(t, http.MethodGet, "/v1/configs/srv-app.yml", "")
	if got := decodeAs[api.Config](t, b); code != http.StatusOK || string(got.Spec.Data) != "a: 1" || got.ID != cfg.ID {
		t.Fatalf("GET config: %d %s", code, b)
	}
	if msg := callError(t, http.MethodPost, "/v1/configs/srv-app.yml/update", mustJSON(api.ConfigSpec{Data: []byte("a: 2")}), http.StatusBadRequest); !strings.Contains(msg, "only labels") {
		t.Errorf("data change message %q", msg)
	}
	code, b = call(t, http.MethodPost, "/v1/configs/srv-app.yml/update?version="+jsonNum(cfg.Version), mustJSON(api.ConfigSpec{Name: "srv-app.yml", Data: []byte("a: 1"), Labels: map[string]string{"k": "v"}}))
	if code != http.StatusOK || decodeAs[api.Config](t, b).Spec.Labels["k"] != "v" {
		t.Fatalf("update labels: %d %s", code, b)
	}
	callError(t, http.MethodPost, "/v1/configs/srv-app.yml/update?version="+jsonNum(cfg.Version), `{}`, http.StatusConflict)
	callError(t, http.MethodPost, "/v1/configs/srv-app.yml/update?version=x", `{}`, http.StatusBadRequest)
	callError(t, http.MethodPost, "/v1/configs/srv-app.yml/update", `{"Bogus":1}`, http.StatusBadRequest)

	code, b = call(t, http.MethodPost, "/v1/networks", `{"Name":"srv-front","Attachable":true}`)
	if n := decodeAs[api.Network](t, b); code != http.StatusCreated || n.Spec.Driver != "overlay" || !n.Spec.Attachable {
		t.Fatalf("create network: %d %s", code, b)
	}
	callError(t, http.MethodPost, "/v1/networks", `{"Name":"srv-front"}`, http.StatusConflict)

	// A service naming a missing secret is refused, saying which.
	spec := sleepSpec("srv-web", 1)
	spec.TaskTemplate.ContainerSpec.Configs = []api.ConfigReference{{ConfigName: "srv-app.yml"}}
	spec.TaskTemplate.ContainerSpec.Secrets = []api.SecretReference{{SecretName: "srv-pw"}}
	spec.TaskTemplate.Networks = []api.NetworkAttachment{{Target: "srv-front"}}
	if msg := callError(t, http.MethodPost, "/v1/services", mustJSON(spec), http.StatusBadRequest); msg != `service srv-web: secret "srv-pw" not found` {
		t.Errorf("missing secret message %q", msg)
	}
	if code, b := call(t, http.MethodPost, "/v1/secrets", mustJSON(api.SecretSpec{Name: "srv-pw", Data: []byte("pw")})); code != http.StatusCreated {
		t.Fatalf("create secret: %d %s", code, b)
	}
	svc := createService(t, spec)
	if svc.Spec.TaskTemplate.ContainerSpec.Configs[0].ConfigID != cfg.ID {
		t.Errorf("config reference %+v: want its ID", svc.Spec.TaskTemplate.ContainerSpec.Configs[0])
	}
	for _, p := range []string{"/v1/configs/srv-app.yml", "/v1/secrets/srv-pw", "/v1/networks/srv-front"} {
		if msg := callError(t, http.MethodDelete, p, "", http.StatusConflict); !strings.Contains(msg, "in use by service srv-web") {
			t.Errorf("DELETE %s in use: %q", p, msg)
		}
	}
	if code, b := call(t, http.MethodDelete, "/v1/services/srv-web", ""); code != http.StatusNoContent {
		t.Fatalf("remove service: %d %s", code, b)
	}
	for _, p := range []string{"/v1/configs/srv-app.yml", "/v1/secrets/srv-pw", "/v1/networks/srv-front"} {
		if code, b := call(t, http.MethodDelete, p, ""); code != http.StatusNoContent {
			t.Errorf("DELETE %s: %d %s", p, code, b)
		}
		callError(t, http.MethodGet, p, "", http.StatusNotFound)
	}
	code, b = call(t, http.MethodGet, "/v1/networks", "")
	if code != http.StatusOK || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("networks after removal: %d %s", code, b)
	}
}

func jsonNum(v uint64) string { return mustJSON(v) }
