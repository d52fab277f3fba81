package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// A spec asking for a billion replicas is refused before anything is
// written: the manager would otherwise plan a billion tasks, and die of it
// on every restart.
func TestReplicasOverTheLimit(t *testing.T) {
	cleanupServices(t)
	store := testDev.Manager().Store()
	before := store.Index()
	msg := callError(t, http.MethodPost, "/v1/services", mustJSON(sleepSpec("huge", 1_000_000_000)), http.StatusBadRequest)
	if want := "replicas: 1000000000, more than the 100000 allowed"; !strings.Contains(msg, want) {
		t.Errorf("message %q does not say %q", msg, want)
	}
	if after := store.Index(); after != before {
		t.Errorf("store index moved from %d to %d: a refused spec was written", before, after)
	}
	checkNoServices(t)

	// An update to too many is refused too, and changes nothing.
	svc := createService(t, sleepSpec("small", 0))
	big := svc.Spec
	big.Mode.Replicated.Replicas = api.MaxReplicas + 1
	msg = callError(t, http.MethodPost, "/v1/services/small/update", mustJSON(big), http.StatusBadRequest)
	if want := "replicas: 100001, more than the 100000 allowed"; !strings.Contains(msg, want) {
		t.Errorf("message %q does not say %q", msg, want)
	}
	code, b := call(t, http.MethodGet, "/v1/services/small", "")
	if code != http.StatusOK {
		t.Fatalf("inspect: %d %s", code, b)
	}
	if got := decodeAs[api.Service](t, b); got.Version != svc.Version || got.Spec.Mode.Replicas() != 0 {
		t.Errorf("after a refused update: version %d (was %d), replicas %d", got.Version, svc.Version, got.Spec.Mode.Replicas())
	}
	if n := len(store.Read().Tasks()); n != 0 {
		t.Errorf("%d tasks exist", n)
	}
}

// Labels of configs, secrets and networks are bounded as a service's are.
func TestObjectLabelsOverTheLimit(t *testing.T) {
	labels := map[string]string{}
	for i := 0; i <= api.MaxLabels; i++ {
		labels[fmt.Sprintf("l%d", i)] = "v"
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/configs", mustJSON(api.ConfigSpec{Name: "c", Data: []byte("x"), Labels: labels}), "config labels: 1001 entries, more than the 1000 allowed"},
		{"/v1/secrets", mustJSON(api.SecretSpec{Name: "s", Data: []byte("x"), Labels: labels}), "secret labels: 1001 entries"},
		{"/v1/networks", mustJSON(api.NetworkSpec{Name: "n", Labels: labels}), "network labels: 1001 entries"},
	} {
		msg := callError(t, http.MethodPost, tc.path, tc.body, http.StatusBadRequest)
		if !strings.Contains(msg, tc.want) {
			t.Errorf("POST %s: message %q does not say %q", tc.path, msg, tc.want)
		}
		code, b := call(t, http.MethodGet, tc.path, "")
		if code != http.StatusOK || string(b) != "[]\n" {
			t.Errorf("GET %s after a refused create: %d %s", tc.path, code, b)
		}
	}
}

// Every body over 4 MiB is 413 with a JSON message, whatever it holds and
// however it is sent: a JSON value that runs past the limit, bytes that are
// not JSON at all, or a small value padded past the limit.
func TestBodyOverTheLimit(t *testing.T) {
	srv := httptest.NewServer(testAPI)
	t.Cleanup(srv.Close)
	const size = 5 << 20
	bodies := map[string]string{
		"long value": `{"Name": "` + strings.Repeat("a", size) + `"}`,
		"not JSON":   strings.Repeat("A", size),
		"padded":     `{"Name": "x"}` + strings.Repeat(" ", size),
	}
	paths := []string{
		"/v1/services", "/v1/services/nope/update",
		"/v1/configs", "/v1/configs/nope/update",
		"/v1/secrets", "/v1/secrets/nope/update",
		"/v1/networks",
	}
	for _, path := range paths {
		for name, body := range bodies {
			for _, chunked := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s %s chunked=%v", path, name, chunked), func(t *testing.T) {
					var rd io.Reader = strings.NewReader(body)
					if chunked {
						// No Content-Length: the server finds out by reading.
						rd = io.MultiReader(rd)
					}
					req, err := http.NewRequest(http.MethodPost, srv.URL+path, rd)
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Content-Type", "application/json")
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != http.StatusRequestEntityTooLarge {
						t.Fatalf("status %d, want 413: %.200s", resp.StatusCode, b)
					}
					var e api.Error
					if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Message, "larger than 4194304 bytes") {
						t.Errorf("body %.200s, want a JSON message naming the limit", b)
					}
				})
			}
		}
	}
	checkNoServices(t)
}
