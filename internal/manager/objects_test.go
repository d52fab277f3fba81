package manager_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
)

func TestCreateConfigValidates(t *testing.T) {
	m := start(t, t.TempDir())
	ctx := testCtx(t)
	for name, spec := range map[string]api.ConfigSpec{
		"bad name":   {Name: "bad name", Data: []byte("x")},
		"empty name": {Data: []byte("x")},
		"empty data": {Name: "empty"},
		"too big":    {Name: "big", Data: make([]byte, api.MaxConfigSize+1)},
		"bad label":  {Name: "lbl", Data: []byte("x"), Labels: map[string]string{"": "v"}},
	} {
		if _, err := m.CreateConfig(ctx, spec); !errors.Is(err, manager.ErrInvalid) {
			t.Errorf("%s: CreateConfig: %v, want ErrInvalid", name, err)
		}
	}
	// File-like names work, as with docker; the limit is inclusive.
	c, err := m.CreateConfig(ctx, api.ConfigSpec{Name: "nginx.conf", Data: make([]byte, api.MaxConfigSize)})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == "" || c.Version == 0 || len(c.Spec.Data) != api.MaxConfigSize {
		t.Fatalf("created %+v", c.Meta)
	}
	if _, err := m.CreateConfig(ctx, api.ConfigSpec{Name: "nginx.conf", Data: []byte("x")}); !errors.Is(err, manager.ErrConflict) || !strings.Contains(err.Error(), `config "nginx.conf" already exists`) {
		t.Fatalf("duplicate: %v, want ErrConflict", err)
	}
}

func TestUpdateConfigOnlyLabels(t *testing.T) {
	m := start(t, t.TempDir())
	ctx := testCtx(t)
	c, err := m.CreateConfig(ctx, api.ConfigSpec{Name: "app", Data: []byte("v1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateConfig(ctx, "app", 0, api.ConfigSpec{Name: "app", Data: []byte("v2")}); !errors.Is(err, manager.ErrInvalid) || !strings.Contains(err.Error(), "only labels") {
		t.Errorf("data change: %v, want ErrInvalid", err)
	}
	if _, err := m.UpdateConfig(ctx, "app", 0, api.ConfigSpec{Name: "app2"}); !errors.Is(err, manager.ErrInvalid) {
		t.Errorf("rename: %v, want ErrInvalid", err)
	}
	up, err := m.UpdateConfig(ctx, c.ID, c.Version, api.ConfigSpec{Name: "app", Data: []byte("v1"), Labels: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Spec.Labels["k"] != "v" || string(up.Spec.Data) != "v1" || up.Version <= c.Version {
		t.Fatalf("updated %+v", up)
	}
	if _, err := m.UpdateConfig(ctx, c.ID, c.Version, api.ConfigSpec{}); !errors.Is(err, manager.ErrConflict) {
		t.Errorf("stale version: %v, want ErrConflict", err)
	}
	if _, err := m.UpdateConfig(ctx, "nope", 0, api.ConfigSpec{}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("unknown config: %v, want not found", err)
	}
}

func TestSecretIsSealedAndNeverReturned(t *testing.T) {
	m := start(t, t.TempDir())
	ctx := testCtx(t)
	plain := []byte("s3cr3t-data")
	s, err := m.CreateSecret(ctx, api.SecretSpec{Name: "db", Data: plain})
	if err != nil {
		t.Fatal(err)
	}
	if s.Spec.Data != nil {
		t.Fatal("CreateSecret returned the data")
	}
	stored := m.Store().Read().Secret(s.ID)
	if holdsClear(stored.Spec.Data, plain) {
		t.Fatal("the store holds the secret in clear")
	}
	got, err := m.SecretKey().Open(stored.Spec.Data, secretkey.SecretContext(s.ID))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("stored data opens to %q, %v", got, err)
	}
	up, err := m.UpdateSecret(ctx, "db", 0, api.SecretSpec{Labels: map[string]string{"a": "b"}})
	if err != nil || up.Spec.Data != nil || up.Spec.Labels["a"] != "b" {
		t.Fatalf("UpdateSecret = %+v, %v", up, err)
	}
	if _, err := m.UpdateSecret(ctx, "db", 0, api.SecretSpec{Data: []byte("new")}); !errors.Is(err, manager.ErrInvalid) {
		t.Errorf("data change: %v, want ErrInvalid", err)
	}
	if _, err := m.CreateSecret(ctx, api.SecretSpec{Name: "big", Data: make([]byte, api.MaxSecretSize+1)}); !errors.Is(err, manager.ErrInvalid) {
		t.Errorf("too big: %v, want ErrInvalid", err)
	}
	if _, err := m.CreateSecret(ctx, api.SecretSpec{Name: "db", Data: []byte("x")}); !errors.Is(err, manager.ErrConflict) {
		t.Errorf("duplicate: %v, want ErrConflict", err)
	}
}

func TestServiceReferencesMustExist(t *testing.T) {
	m := start(t, t.TempDir())
	ctx := testCtx(t)
	s := spec("web", 1)
	s.TaskTemplate.ContainerSpec.Secrets = []api.SecretReference{{SecretName: "x"}}
	_, err := m.CreateService(ctx, s)
	if !errors.Is(err, manager.ErrInvalid) || !strings.HasSuffix(err.Error(), `service web: secret "x" not found`) {
		t.Fatalf("missing secret: %v", err)
	}
	sec, err := m.CreateSecret(ctx, api.SecretSpec{Name: "x", Data: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := m.CreateConfig(ctx, api.ConfigSpec{Name: "app.yml", Data: []byte("a: 1")})
	if err != nil {
		t.Fatal(err)
	}
	s.TaskTemplate.ContainerSpec.Configs = []api.ConfigReference{{ConfigName: "app.yml", File: &api.FileTarget{Name: "/etc/app.yml"}}}
	s.TaskTemplate.Networks = []api.NetworkAttachment{{Target: "front"}}
	if _, err := m.CreateService(ctx, s); !errors.Is(err, manager.ErrInvalid) || !strings.Contains(err.Error(), `network "front" not found`) {
		t.Fatalf("missing network: %v", err)
	}
	if _, err := m.CreateNetwork(ctx, api.NetworkSpec{Name: "front"}); err != nil {
		t.Fatal(err)
	}
	svc, err := m.CreateService(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	c := svc.Spec.TaskTemplate.ContainerSpec
	if c.Secrets[0].SecretID != sec.ID || c.Configs[0].ConfigID != cfg.ID {
		t.Errorf("references %+v %+v: want the IDs recorded", c.Secrets, c.Configs)
	}
	if s.TaskTemplate.ContainerSpec.Secrets[0].SecretID != "" {
		t.Error("the caller's spec was changed")
	}

	// In use: none can go.
	for name, rm := range map[string]func() error{
		"secret":  func() error { return m.RemoveSecret(ctx, "x") },
		"config":  func() error { return m.RemoveConfig(ctx, "app.yml") },
		"network": func() error { return m.RemoveNetwork(ctx, "front") },
	} {
		err := rm()
		if !errors.Is(err, manager.ErrConflict) || !strings.Contains(err.Error(), "in use by service web") {
			t.Errorf("remove %s in use: %v, want ErrConflict naming web", name, err)
		}
	}

	// An update that names a missing config, or puts two files at one
	// target, is refused.
	bad := svc.Spec
	bad.TaskTemplate.ContainerSpec.Configs = append([]api.ConfigReference{}, api.ConfigReference{ConfigName: "gone"})
	if _, err := m.UpdateService(ctx, "web", 0, bad); !errors.Is(err, manager.ErrInvalid) || !strings.Contains(err.Error(), `config "gone" not found`) {
		t.Errorf("update with a missing config: %v", err)
	}
	bad.TaskTemplate.ContainerSpec.Configs = []api.ConfigReference{{ConfigName: "app.yml", File: &api.FileTarget{Name: "/run/secrets/x"}}}
	if _, err := m.UpdateService(ctx, "web", 0, bad); !errors.Is(err, manager.ErrInvalid) || !strings.Contains(err.Error(), "/run/secrets/x") {
		t.Errorf("update with two files at one target: %v", err)
	}
	// Dropping the secret frees it.
	ok := svc.Spec
	ok.TaskTemplate.ContainerSpec.Secrets = nil
	if _, err := m.UpdateService(ctx, "web", 0, ok); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveSecret(ctx, sec.ID); err != nil {
		t.Fatalf("remove a secret no longer used: %v", err)
	}
	if err := m.RemoveSecret(ctx, sec.ID); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("remove again: %v, want not found", err)
	}
}

func TestCreateNetwork(t *testing.T) {
	m := start(t, t.TempDir())
	ctx := testCtx(t)
	n, err := m.CreateNetwork(ctx, api.NetworkSpec{Name: "back", Internal: true, Labels: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if n.Spec.Driver != "overlay" || !n.Spec.Internal || n.ID == "" {
		t.Fatalf("network %+v", n)
	}
	if _, err := m.CreateNetwork(ctx, api.NetworkSpec{Name: "back"}); !errors.Is(err, manager.ErrConflict) {
		t.Errorf("duplicate: %v, want ErrConflict", err)
	}
	if _, err := m.CreateNetwork(ctx, api.NetworkSpec{Name: "b.a.d"}); !errors.Is(err, manager.ErrInvalid) {
		t.Errorf("bad name: %v, want ErrInvalid", err)
	}
	if _, err := m.CreateNetwork(ctx, api.NetworkSpec{Name: "ok", Driver: "bad driver"}); !errors.Is(err, manager.ErrInvalid) {
		t.Errorf("bad driver: %v, want ErrInvalid", err)
	}
	if err := m.RemoveNetwork(ctx, n.ID[:6]); err != nil {
		t.Fatal(err)
	}
	if len(m.Store().Read().Networks()) != 0 {
		t.Fatal("network still stored")
	}
}

// A secret written through a real Raft cluster is in neither the Raft log
// nor its snapshots in clear, and after a restart the key in the data
// folder still opens it.
func TestSecretNotInRaftLogOrSnapshots(t *testing.T) {
	dir := t.TempDir()
	plain := []byte("PLAINTEXT-hunter2-7f3a9c")
	// A control written unsealed, straight through Raft: the search must
	// find it, or it proves nothing.
	control := []byte("CONTROL-unsealed-51c2e8")
	m, err := manager.Start(manager.Config{RaftDir: dir, NodeID: nodeID, Logger: quiet, FastRaft: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WaitLeader(testCtx(t)); err != nil {
		m.Close()
		t.Fatal(err)
	}
	sec, err := m.CreateSecret(testCtx(t), api.SecretSpec{Name: "db", Data: plain})
	if err == nil {
		_, err = m.Propose(testCtx(t), &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpCreateSecret,
			Secret: &api.Secret{ID: api.NewID(), Spec: api.SecretSpec{Name: "control", Data: control}}}}})
	}
	if err == nil {
		err = m.Raft().Snapshot()
	}
	if err == nil {
		// A write after the snapshot, so the log has entries too.
		_, err = m.CreateSecret(testCtx(t), api.SecretSpec{Name: "db2", Data: plain})
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(filepath.Join(dir, secretkey.FileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	var clear, controlIn []string
	var snaps int
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(p, "snapshots") {
			snaps++
		}
		if holdsClear(b, plain) {
			clear = append(clear, p)
		}
		if holdsClear(b, control) {
			controlIn = append(controlIn, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(clear) > 0 {
		t.Errorf("the secret is in clear in %v", clear)
	}
	if snaps == 0 || !slices.Contains(controlIn, "raft.db") || !slices.Contains(controlIn, "state.bin") {
		t.Fatalf("the unsealed control was found in %v (%d snapshot files): the search does not see the Raft log and snapshots", controlIn, snaps)
	}

	m2 := start(t, dir)
	stored := m2.Store().Read().Secret(sec.ID)
	if stored == nil {
		t.Fatal("secret lost over a restart")
	}
	got, err := m2.SecretKey().Open(stored.Spec.Data, secretkey.SecretContext(sec.ID))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("after a restart the secret opens to %q, %v", got, err)
	}
}

// holdsClear reports whether b holds plain as it is, or base64-encoded as
// JSON writes bytes (the Raft log and snapshots are JSON).
func holdsClear(b, plain []byte) bool {
	enc := base64.StdEncoding.EncodeToString(plain)
	return bytes.Contains(b, plain) || bytes.Contains(b, []byte(strings.TrimRight(enc, "=")))
}
