package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/shoalproject/shoal/internal/unlockkey"
)

// freePort returns a loopback address nothing listens on.
func freePort(t *testing.T) string { return testutil.FreeAddr(t, "127.0.0.1") }

// folderState is the size and time of every file of a folder.
func folderState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			out[p] = strconv.FormatInt(fi.Size(), 10) + "@" + fi.ModTime().String()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startLocked starts cfg's manager, which must wait locked, in the
// background; it returns its client and what StartDev returns, once
// the locked API answers.
func startLocked(t *testing.T, ctx context.Context, cfg DevConfig) (*client.Client, <-chan *Dev) {
	t.Helper()
	out := make(chan *Dev, 1)
	go func() {
		d, err := StartDev(ctx, cfg)
		if err != nil {
			t.Errorf("start after unlock: %v", err)
		}
		out <- d
	}()
	c, _ := client.New("unix://" + filepath.Join(cfg.DataDir, "shoal.sock"))
	for {
		_, err := c.Info(ctx)
		if err != nil && strings.Contains(err.Error(), api.LockedMessage) {
			return c, out
		}
		if ctx.Err() != nil {
			t.Fatalf("the locked manager never answered locked: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockedBy checks that the folder's secret key is locked by key and
// holds nothing that opens the cluster's secrets without it.
func lockedBy(t *testing.T, dir string, key string, raw []byte) {
	t.Helper()
	file, err := os.ReadFile(filepath.Join(dir, "raft", secretkey.FileName))
	if err != nil {
		t.Fatal(err)
	}
	k, err := unlockkey.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	locked, id, err := unlockkey.Locked(file)
	if err != nil || !locked || id != k.ID() {
		t.Fatalf("secret.key: locked %v by %s (%v), want locked by %s", locked, id, err, k.ID())
	}
	if bytes.Contains(file, raw) {
		t.Fatal("the locked file holds the secrets key")
	}
	// The CA key, sealed with the secrets key, does not open with what
	// the file holds.
	certPEM, _ := os.ReadFile(filepath.Join(dir, "ca", ca.RootCertFile))
	sealed, _ := os.ReadFile(filepath.Join(dir, "ca", ca.RootKeyFile))
	for i := 0; i+secretkey.Size <= len(file); i++ {
		if sk, err := secretkey.New(file[i : i+secretkey.Size]); err == nil {
			if _, err := ca.OpenRootCA(certPEM, sealed, sk); err == nil {
				t.Fatalf("bytes %d.. of the locked file open the CA key", i)
			}
		}
	}
}

// A manager of an autolocked cluster restarts locked: no Raft, no
// cluster port, no state change, no running task stopped; its API
// refuses everything but the unlock, a wrong key leaves it locked, the
// right one starts it. A rotated key is needed after the rotation, and
// autolock off stores the key plainly again.
func TestLockedManagerWaitsForItsUnlockKey(t *testing.T) {
	ctx := testCtx(t)
	port := freePort(t)
	cfg := DevConfig{DataDir: t.TempDir(), Logger: quiet, AgentListen: port, Autolock: true}
	d, err := StartDev(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// On a failure, the manager of the moment is closed (the test
	// closes each one it is done with).
	t.Cleanup(func() {
		if d != nil && t.Failed() {
			d.Close()
		}
	})
	key := d.MadeUnlockKey()
	raw := bytes.Clone(d.lock.raw)
	c, _ := client.New(d.Host())
	if got, err := c.UnlockKey(ctx); err != nil || got != key || !strings.HasPrefix(key, unlockkey.Prefix) {
		t.Fatalf("unlock-key: %q, %v; the bootstrap made %q", got, err, key)
	}
	if sw, err := c.SwarmInspect(ctx); err != nil || !sw.Autolock {
		t.Fatalf("swarm inspect: %+v, %v: want autolock", sw, err)
	}
	lockedBy(t, cfg.DataDir, key, raw)
	noKeyInRaft(t, cfg.DataDir, key)
	sec, err := c.SecretCreate(ctx, secretSpec("db"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.ServiceCreate(ctx, api.ServiceSpec{Name: "sleeper", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "300"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	waitStore(t, ctx, d.Manager().Store(), "the task running", func(tx *state.ReadTx) bool {
		for _, tk := range tx.TasksByService(svc.ID) {
			if tk.Status.State == api.TaskStateRunning {
				pid, _ = strconv.Atoi(tk.Status.RuntimeID)
			}
		}
		return pid > 0
	})
	t.Cleanup(func() { _ = killPID(pid, syscall.SIGKILL) })
	d.Close()

	before := folderState(t, filepath.Join(cfg.DataDir, "raft"))
	cfg.Autolock = false
	lc, started := startLocked(t, ctx, cfg)
	for _, call := range []func() error{
		func() error { _, err := lc.ServiceList(ctx); return err },
		func() error { _, err := lc.SecretCreate(ctx, secretSpec("x")); return err },
		func() error { _, err := lc.UnlockKey(ctx); return err },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), api.LockedMessage) {
			t.Errorf("locked API: %v, want %q", err, api.LockedMessage)
		}
	}
	wrong, _ := unlockkey.Generate()
	for _, k := range []string{wrong.String(), "SWMKEY-1-nope", ""} {
		if err := lc.SwarmUnlock(ctx, k); err == nil || !strings.Contains(err.Error(), "invalid key") {
			t.Errorf("unlock with %q: %v, want refused as an invalid key", k, err)
		}
	}
	if _, err := net.DialTimeout("tcp", port, time.Second); err == nil {
		t.Error("the locked manager listens on its cluster port (Raft)")
	}
	if err := killPID(pid, 0); err != nil {
		t.Errorf("the task's process %d is gone while its manager is locked: %v", pid, err)
	}
	if after := folderState(t, filepath.Join(cfg.DataDir, "raft")); !equalMaps(before, after) {
		t.Errorf("the raft folder changed while locked:\n%v\n%v", before, after)
	}
	if _, err := lc.Info(ctx); err == nil || !strings.Contains(err.Error(), api.LockedMessage) {
		t.Fatalf("after wrong keys: %v, want still locked", err)
	}
	if err := lc.SwarmUnlock(ctx, "  "+key+"\n"); err != nil {
		t.Fatal(err)
	}
	d = <-started
	if d == nil {
		t.FailNow()
	}
	if got, err := d.Manager().SecretKey().Open(d.Manager().Store().Read().Secret(sec.ID).Spec.Data, secretkey.SecretContext(sec.ID)); err != nil || !strings.HasPrefix(string(got), "s3cret") {
		t.Fatalf("the unlocked manager opens the secret: %q, %v", got, err)
	}
	c, _ = client.New(d.Host())
	if err := c.SwarmUnlock(ctx, key); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Errorf("unlock of an unlocked manager: %v", err)
	}
	waitStore(t, ctx, d.Manager().Store(), "the task adopted", func(tx *state.ReadTx) bool {
		for _, tk := range tx.TasksByService(svc.ID) {
			if tk.Status.State == api.TaskStateRunning && tk.Status.RuntimeID == strconv.Itoa(pid) {
				return true
			}
		}
		return false
	})

	// Rotation: the old key no longer unlocks this manager.
	key2, err := c.RotateUnlockKey(ctx)
	if err != nil || key2 == key || key2 == "" {
		t.Fatalf("rotate: %q, %v", key2, err)
	}
	lockedBy(t, cfg.DataDir, key2, raw)
	noKeyInRaft(t, cfg.DataDir, key2)
	d.Close()
	lc, started = startLocked(t, ctx, cfg)
	if err := lc.SwarmUnlock(ctx, key); err == nil || !strings.Contains(err.Error(), "invalid key") {
		t.Errorf("unlock with the key before the rotation: %v", err)
	}
	if err := lc.SwarmUnlock(ctx, key2); err != nil {
		t.Fatal(err)
	}
	if d = <-started; d == nil {
		t.FailNow()
	}

	// A swarm update that names only the certificate life leaves
	// autolock on (one body for both, as Docker's Spec).
	c, _ = client.New(d.Host())
	if k, err := c.SwarmUpdate(ctx, api.SwarmUpdate{CAConfig: api.CAConfig{NodeCertExpiry: 3 * time.Hour}}); err != nil || k != "" {
		t.Fatalf("swarm update --cert-expiry: %q, %v", k, err)
	}
	if sw, err := c.SwarmInspect(ctx); err != nil || !sw.Autolock || sw.Spec.CAConfig.NodeCertExpiry != 3*time.Hour {
		t.Fatalf("after swarm update --cert-expiry: %+v, %v", sw, err)
	}

	// Off: the key is stored plainly, and a restart waits for nothing.
	if k, err := c.SwarmUpdate(ctx, api.SwarmUpdate{Autolock: new(false)}); err != nil || k != "" {
		t.Fatalf("autolock off: %q, %v", k, err)
	}
	if file, _ := os.ReadFile(filepath.Join(cfg.DataDir, "raft", secretkey.FileName)); !bytes.Equal(file, raw) {
		t.Fatalf("after autolock off, secret.key is %d bytes, not the plain key", len(file))
	}
	if _, err := c.RotateUnlockKey(ctx); err == nil || !strings.Contains(err.Error(), "autolock is not turned on") {
		t.Errorf("rotate without autolock: %v", err)
	}
	d.Close()
	if d, err = StartDev(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c, _ = client.New(d.Host())
	if err := c.ServiceRemove(ctx, svc.ID); err != nil {
		t.Error(err)
	}
	// Stopped by its agent, not by the clean-up's kill, which would race
	// the folder's removal.
	for killPID(pid, 0) == nil && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	d.Close()
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A secret.key that is neither a key nor a locked key is damage: the
// start is refused before anything opens, and the file left as it is.
func TestDamagedSecretKeyIsRefused(t *testing.T) {
	ctx := testCtx(t)
	cfg := DevConfig{DataDir: t.TempDir(), Logger: quiet}
	d, err := StartDev(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	path := filepath.Join(cfg.DataDir, "raft", secretkey.FileName)
	if err := os.WriteFile(path, []byte("shoal-locked-key-v1\nshort"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err = StartDev(ctx, cfg); err == nil {
		d.Close()
		t.Fatal("started with a damaged secret key")
	}
	if !strings.Contains(err.Error(), path+" holds 25 bytes, neither a key (32 bytes) nor a locked key: the data folder is damaged") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "shoal-locked-key-v1\nshort" {
		t.Fatal("the damaged key was replaced")
	}
}

// noKeyInRaft checks that no file of the Raft folder holds the unlock
// key: not its text, its bytes, nor their base64 (JSON's []byte).
func noKeyInRaft(t *testing.T, dir, key string) {
	t.Helper()
	k, err := unlockkey.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	forms := [][]byte{[]byte(key), k.Bytes(), []byte(base64.StdEncoding.EncodeToString(k.Bytes())), []byte(key[len(unlockkey.Prefix):])}
	// The log does hold the key's ID: the walk reads what Raft wrote.
	sawID := false
	err = filepath.Walk(filepath.Join(dir, "raft"), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		sawID = sawID || bytes.Contains(b, []byte(k.ID()))
		for _, f := range forms {
			if bytes.Contains(b, f) {
				t.Errorf("%s holds the unlock key", p)
			}
		}
		return err
	})
	if err != nil || !sawID {
		t.Fatalf("walk of the raft folder: %v; the key's ID found: %v", err, sawID)
	}
}
