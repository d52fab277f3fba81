package state_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
)

func newConfig(id, name, data string) *api.Config {
	return &api.Config{ID: id, Spec: api.ConfigSpec{Name: name, Data: []byte(data), Labels: map[string]string{"a": "1"}}}
}

func newSecret(id, name string, data []byte) *api.Secret {
	return &api.Secret{ID: id, Spec: api.SecretSpec{Name: name, Data: data}}
}

func createConfig(c *api.Config) state.Op { return state.Op{Kind: state.OpCreateConfig, Config: c} }
func createSecret(s *api.Secret) state.Op { return state.Op{Kind: state.OpCreateSecret, Secret: s} }
func createNetwork(n *api.Network) state.Op {
	return state.Op{Kind: state.OpCreateNetwork, Network: n}
}

// serviceUsing is a service whose tasks get config cfg, secret sec and
// attach to network net (each when not empty).
func serviceUsing(id, name, cfg, sec, net string) *api.Service {
	s := newService(id, name)
	c := &s.Spec.TaskTemplate.ContainerSpec
	if cfg != "" {
		c.Configs = []api.ConfigReference{{ConfigName: cfg}}
	}
	if sec != "" {
		c.Secrets = []api.SecretReference{{SecretName: sec}}
	}
	if net != "" {
		s.Spec.TaskTemplate.Networks = []api.NetworkAttachment{{Target: net}}
	}
	return s
}

func TestConfigNamesAreUniqueAndCaseSensitive(t *testing.T) {
	e := newEnv(t)
	res := e.must(step(0), createConfig(newConfig("c1", "app.yml", "x: 1")))
	c := e.store.Read().Config("c1")
	if c == nil || c.Version != res.Index || !c.CreatedAt.Equal(step(0)) || string(c.Spec.Data) != "x: 1" {
		t.Fatalf("stored config %+v", c)
	}
	e.refused(state.ErrNameConflict, step(1), createConfig(newConfig("c2", "app.yml", "x: 2")))
	e.refused(state.ErrNameConflict, step(1), createConfig(newConfig("c1", "other", "x: 2")))
	// Names differ by case only: two configs, as in Swarm.
	e.must(step(2), createConfig(newConfig("c3", "App.yml", "x: 3")))
	tx := e.store.Read()
	if got := tx.ConfigByName("App.yml"); got == nil || got.ID != "c3" {
		t.Fatalf("ConfigByName(App.yml) = %+v", got)
	}
	if got := tx.ConfigByName("APP.YML"); got != nil {
		t.Fatalf("ConfigByName matched another case: %+v", got)
	}
	if n := len(tx.Configs()); n != 2 {
		t.Fatalf("%d configs, want 2", n)
	}
}

func TestFindConfigBySomeRef(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createConfig(newConfig("abc111", "one", "1")), createConfig(newConfig("abc222", "two", "2")))
	tx := e.store.Read()
	for ref, want := range map[string]string{"abc111": "abc111", "two": "abc222", "abc2": "abc222"} {
		c, err := tx.FindConfig(ref)
		if err != nil || c.ID != want {
			t.Errorf("FindConfig(%q) = %v, %v; want %s", ref, c, err, want)
		}
	}
	if _, err := tx.FindConfig("abc"); !errors.Is(err, state.ErrAmbiguous) {
		t.Errorf("FindConfig(abc) err = %v, want ambiguous", err)
	}
	if _, err := tx.FindConfig("zzz"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("FindConfig(zzz) err = %v, want not found", err)
	}
	if _, err := tx.FindConfig(""); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("FindConfig(\"\") err = %v, want not found", err)
	}
}

func TestRemoveConfigInUseIsRefused(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createConfig(newConfig("c1", "app.yml", "x")))
	e.must(step(1), createService(serviceUsing("s1", "web", "app.yml", "", "")), createService(serviceUsing("s2", "api", "app.yml", "", "")))
	res := e.refused(state.ErrInUse, step(2), state.Op{Kind: state.OpRemoveConfig, ID: "c1"})
	var inUse *state.InUseError
	if !errors.As(res.Err, &inUse) || strings.Join(inUse.Services, ",") != "api,web" {
		t.Fatalf("error %v, want an InUseError naming api and web", res.Err)
	}
	if want := `config "app.yml" is in use by services api, web`; res.Err.Error() != want {
		t.Errorf("error %q, want %q", res.Err, want)
	}
	if e.store.Read().Config("c1") == nil {
		t.Fatal("a config in use was removed")
	}
	// Once no service names it, it goes.
	e.must(step(3), state.Op{Kind: state.OpDeleteService, ID: "s1"}, state.Op{Kind: state.OpDeleteService, ID: "s2"})
	e.must(step(4), state.Op{Kind: state.OpRemoveConfig, ID: "c1"})
	if e.store.Read().Config("c1") != nil || e.store.Read().ConfigByName("app.yml") != nil {
		t.Fatal("config still stored")
	}
	e.refused(state.ErrNotFound, step(5), state.Op{Kind: state.OpRemoveConfig, ID: "c1"})
}

func TestUpdateConfigLabelsChangesOnlyLabels(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createConfig(newConfig("c1", "app.yml", "x: 1")))
	v := e.store.Read().Config("c1").Version
	res := e.must(step(1), state.Op{Kind: state.OpUpdateConfigLabels, ID: "c1", ExpectVersion: v, Labels: map[string]string{"b": "2"}})
	c := e.store.Read().Config("c1")
	if c.Spec.Labels["b"] != "2" || len(c.Spec.Labels) != 1 || string(c.Spec.Data) != "x: 1" || c.Spec.Name != "app.yml" {
		t.Fatalf("updated config spec %+v", c.Spec)
	}
	if c.Version != res.Index || !c.UpdatedAt.Equal(step(1)) || !c.CreatedAt.Equal(step(0)) {
		t.Fatalf("meta %+v", c.Meta)
	}
	// A stale version is refused.
	e.refused(state.ErrVersionConflict, step(2), state.Op{Kind: state.OpUpdateConfigLabels, ID: "c1", ExpectVersion: v, Labels: nil})
	// The op carries labels only: whatever else a caller puts in it is not
	// applied.
	e.must(step(3), state.Op{Kind: state.OpUpdateConfigLabels, ID: "c1", Labels: nil, Config: newConfig("c1", "evil", "changed")})
	c = e.store.Read().Config("c1")
	if len(c.Spec.Labels) != 0 || string(c.Spec.Data) != "x: 1" || c.Spec.Name != "app.yml" {
		t.Fatalf("config after clearing labels %+v", c.Spec)
	}
}

func TestSecretsInUseLabelsAndEventsWithoutData(t *testing.T) {
	e := newEnv(t)
	_, sub := e.store.Subscribe()
	defer sub.Close()
	e.must(step(0), createSecret(newSecret("k1", "db", []byte("sealed-bytes"))), createConfig(newConfig("c1", "app", "config-bytes")))
	e.must(step(1), createService(serviceUsing("s1", "web", "", "db", "")))
	e.refused(state.ErrInUse, step(2), state.Op{Kind: state.OpRemoveSecret, ID: "k1"})
	e.must(step(3), state.Op{Kind: state.OpUpdateSecretLabels, ID: "k1", Labels: map[string]string{"x": "y"}})
	if s := e.store.Read().Secret("k1"); s.Spec.Labels["x"] != "y" || string(s.Spec.Data) != "sealed-bytes" {
		t.Fatalf("secret %+v", s.Spec)
	}
	e.must(step(4), state.Op{Kind: state.OpDeleteService, ID: "s1"})
	e.must(step(5), state.Op{Kind: state.OpRemoveSecret, ID: "k1"}, state.Op{Kind: state.OpRemoveConfig, ID: "c1"})

	evs, err := sub.Drain()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		switch ev.Type {
		case api.EventSecret:
			if ev.Secret == nil || ev.Secret.ID != "k1" || ev.Secret.Spec.Data != nil {
				t.Errorf("secret event %+v: want the secret, without data", ev)
			}
			kinds = append(kinds, "secret "+ev.Action)
		case api.EventConfig:
			if ev.Config == nil || ev.Config.Spec.Data != nil {
				t.Errorf("config event %+v: want the config, without data", ev)
			}
			kinds = append(kinds, "config "+ev.Action)
		}
	}
	if got := strings.Join(kinds, ","); got != "secret create,config create,secret update,secret remove,config remove" {
		t.Errorf("events %s", got)
	}
	// The events did not take the stored data away.
	if e.store.Read().Secret("k1") != nil {
		t.Fatal("secret still stored")
	}
}

func TestNetworkInUseByNameOrID(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createNetwork(&api.Network{ID: "n1", Spec: api.NetworkSpec{Name: "front", Driver: "overlay"}}),
		createNetwork(&api.Network{ID: "n2", Spec: api.NetworkSpec{Name: "back", Driver: "overlay"}}))
	e.refused(state.ErrNameConflict, step(1), createNetwork(&api.Network{ID: "n3", Spec: api.NetworkSpec{Name: "front"}}))
	e.must(step(2), createService(serviceUsing("s1", "web", "", "", "front")), createService(serviceUsing("s2", "api", "", "", "n2")))
	e.refused(state.ErrInUse, step(3), state.Op{Kind: state.OpRemoveNetwork, ID: "n1"})
	e.refused(state.ErrInUse, step(3), state.Op{Kind: state.OpRemoveNetwork, ID: "n2"})
	e.must(step(4), state.Op{Kind: state.OpDeleteService, ID: "s2"})
	e.must(step(5), state.Op{Kind: state.OpRemoveNetwork, ID: "n2"})
	if n, err := e.store.Read().FindNetwork("front"); err != nil || n.ID != "n1" {
		t.Fatalf("FindNetwork(front) = %v, %v", n, err)
	}
}

func TestCheckRefsMakesAServiceWriteFailWhenAReferenceIsGone(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createConfig(newConfig("c1", "app", "x")), createNetwork(&api.Network{ID: "n1", Spec: api.NetworkSpec{Name: "front"}}))
	svc := serviceUsing("s1", "web", "app", "db", "front")
	res := e.refused(state.ErrMissingRef, step(1), state.Op{Kind: state.OpCheckRefs, Service: svc}, createService(svc))
	if want := `service web: secret "db" not found`; res.Err.Error() != want {
		t.Errorf("error %q, want %q", res.Err, want)
	}
	if e.store.Read().Service("s1") != nil {
		t.Fatal("the service was created")
	}
	e.must(step(2), createSecret(newSecret("k1", "db", []byte("x"))))
	e.must(step(3), state.Op{Kind: state.OpCheckRefs, Service: svc}, createService(svc))
	// A network named by ID counts too.
	svc2 := serviceUsing("s2", "api", "", "", "n1")
	e.must(step(4), state.Op{Kind: state.OpCheckRefs, Service: svc2}, createService(svc2))
}

// A snapshot holds configs, secrets (as stored: sealed) and networks, and
// restores them; the secret's plaintext appears nowhere in it.
func TestSnapshotRoundTripWithEncryptedSecret(t *testing.T) {
	key, err := secretkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("hunter2-very-secret-password")
	sealed, err := key.Seal(plain, secretkey.SecretContext("k1"))
	if err != nil {
		t.Fatal(err)
	}
	src := state.NewFSM(state.NewStore())
	applyLog(t, src, 1, &state.Command{Time: step(0), Atomic: true, Ops: []state.Op{
		createConfig(newConfig("c1", "app.yml", "x: 1")),
		createSecret(newSecret("k1", "db", sealed)),
		createNetwork(&api.Network{ID: "n1", Spec: api.NetworkSpec{Name: "front", Driver: "overlay", Attachable: true}}),
		createService(serviceUsing("s1", "web", "app.yml", "db", "front")),
	}})
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sink.Bytes(), plain) || bytes.Contains(sink.Bytes(), []byte(strings.TrimRight(base64.StdEncoding.EncodeToString(plain), "="))) {
		t.Fatal("the snapshot holds the secret in clear")
	}
	dst := state.NewFSM(state.NewStore())
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	tx := dst.Store().Read()
	if c := tx.ConfigByName("app.yml"); c == nil || string(c.Spec.Data) != "x: 1" || c.Spec.Labels["a"] != "1" {
		t.Fatalf("restored config %+v", c)
	}
	if n := tx.NetworkByName("front"); n == nil || n.ID != "n1" || !n.Spec.Attachable {
		t.Fatalf("restored network %+v", n)
	}
	s := tx.SecretByName("db")
	if s == nil || !bytes.Equal(s.Spec.Data, sealed) {
		t.Fatalf("restored secret %+v", s)
	}
	got, err := key.Open(s.Spec.Data, secretkey.SecretContext(s.ID))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("restored secret opens to %q, %v", got, err)
	}
	// The restored store still refuses to remove what is in use.
	res := applyLog(t, dst, 2, &state.Command{Time: step(1), Atomic: true, Ops: []state.Op{{Kind: state.OpRemoveSecret, ID: "k1"}}})
	if !errors.Is(res.Err, state.ErrInUse) {
		t.Fatalf("remove after restore: %v", res.Err)
	}
}

// A snapshot written before configs, secrets and networks existed
// restores, with none of them.
func TestRestoreSnapshotWithoutObjectTables(t *testing.T) {
	old := `{"index":5,"services":[{"ID":"s1","Version":3,"CreatedAt":"2024-05-01T12:00:00Z","UpdatedAt":"2024-05-01T12:00:00Z","Spec":{"Name":"web","TaskTemplate":{"ContainerSpec":{"Command":["sleep","1"]}},"Mode":{"Replicated":{"Replicas":1}}},"SpecVersion":1,"Revision":1}],"tasks":[],"nodes":[]}`
	f := state.NewFSM(state.NewStore())
	if err := f.Restore(io.NopCloser(strings.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	tx := f.Store().Read()
	if tx.Index() != 5 || tx.Service("s1") == nil {
		t.Fatalf("restored index %d, service %v", tx.Index(), tx.Service("s1"))
	}
	if len(tx.Configs()) != 0 || len(tx.Secrets()) != 0 || len(tx.Networks()) != 0 {
		t.Fatal("objects appeared from nowhere")
	}
	// The new tables work after such a restore.
	res := applyLog(t, f, 6, &state.Command{Time: step(0), Atomic: true, Ops: []state.Op{createConfig(newConfig("c1", "app", "x"))}})
	if res.Err != nil || tx.Index() != 5 || f.Store().Read().Config("c1") == nil {
		t.Fatalf("create after restore: %v", res.Err)
	}
}
