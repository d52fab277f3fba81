package daemon

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/unlockkey"
)

// managerCfg is the configuration of manager i (127.0.0.i+1) on a port
// that stays its own across restarts.
func managerCfg(t *testing.T, i int) DevConfig {
	t.Helper()
	addr := "127.0.0." + string(rune('1'+i))
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().String()
	ln.Close()
	return DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: addr, AgentListen: port}
}

// fileKeyID is the ID of the key that locks the folder's secret key,
// "" when it is plain.
func fileKeyID(t *testing.T, dir string) string {
	t.Helper()
	file, err := os.ReadFile(filepath.Join(dir, "raft", secretkey.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, id, err := unlockkey.Locked(file)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitLocked waits until every manager's folder is locked by key ("":
// plain).
func waitLocked(t *testing.T, ctx context.Context, ds []*Dev, key string) {
	t.Helper()
	want := ""
	if key != "" {
		k, err := unlockkey.Parse(key)
		if err != nil {
			t.Fatal(err)
		}
		want = k.ID()
	}
	for i, d := range ds {
		for fileKeyID(t, d.DataDir()) != want {
			if ctx.Err() != nil {
				t.Fatalf("manager %d: secret.key locked by %q, want %q", i, fileKeyID(t, d.DataDir()), want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Autolock is the cluster's: turned on, rotated or off through any
// manager, every manager's folder follows, a manager that joins is
// locked from the start, and a restarted follower waits for the
// current key, then serves again.
func TestAutolockFollowsOnEveryManager(t *testing.T) {
	ctx := testCtx(t)
	var ds []*Dev
	var cfgs []DevConfig
	start := func(i int) {
		cfg := managerCfg(t, i)
		if i > 0 {
			cfg.Join, cfg.JoinToken = ds[0].AgentAddr(), ds[0].ManagerToken()
		}
		d, err := StartDev(ctx, cfg)
		if err != nil {
			t.Fatalf("manager %d: %v", i, err)
		}
		t.Cleanup(func() {
			if ds[i] != nil {
				ds[i].Close()
			}
		})
		ds, cfgs = append(ds, d), append(cfgs, cfg)
	}
	start(0)
	start(1)
	c1, _ := client.New(ds[1].Host())
	tokens, err := c1.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key, err := c1.SwarmUpdate(ctx, api.SwarmUpdate{Autolock: new(true)})
	if err != nil || key == "" {
		t.Fatalf("autolock on through a follower: %q, %v", key, err)
	}
	waitLocked(t, ctx, ds, key)
	if got, err := c1.UnlockKey(ctx); err != nil || got != key {
		t.Fatalf("unlock-key on the follower: %q, %v; want %q", got, err, key)
	}
	noTokensInFolders(t, ctx, ds, tokens.JoinTokens)

	start(2)
	waitLocked(t, ctx, ds[2:], key)
	noTokensInFolders(t, ctx, ds, tokens.JoinTokens)
	c2, _ := client.New(ds[2].Host())
	key2, err := c2.RotateUnlockKey(ctx)
	if err != nil || key2 == key {
		t.Fatalf("rotate through the new manager: %q, %v", key2, err)
	}
	waitLocked(t, ctx, ds, key2)

	// A restarted follower waits for the current key, then serves.
	f := 1
	if ds[1].Manager().IsLeader() {
		f = 2
	}
	ds[f].Close()
	lc, started := startLocked(t, ctx, cfgs[f])
	if err := lc.SwarmUnlock(ctx, key); err == nil {
		t.Fatal("the key before the rotation unlocked the follower")
	}
	if err := lc.SwarmUnlock(ctx, key2); err != nil {
		t.Fatal(err)
	}
	if ds[f] = <-started; ds[f] == nil {
		t.FailNow()
	}
	cf, _ := client.New(ds[f].Host())
	if _, err := cf.SecretCreate(ctx, secretSpec("after-unlock")); err != nil {
		t.Fatalf("write through the unlocked follower: %v", err)
	}

	if _, err := cf.SwarmUpdate(ctx, api.SwarmUpdate{Autolock: new(false)}); err != nil {
		t.Fatal(err)
	}
	waitLocked(t, ctx, ds, "")
}

// noTokensInFolders checks that the join tokens still admit (every
// manager shows them) but no manager's data folder holds them.
func noTokensInFolders(t *testing.T, ctx context.Context, ds []*Dev, jt api.JoinTokens) {
	t.Helper()
	for i, d := range ds {
		c, _ := client.New(d.Host())
		if sw, err := c.SwarmInspect(ctx); err != nil || sw.JoinTokens != jt {
			t.Errorf("manager %d shows tokens %+v, %v; want %+v", i, sw.JoinTokens, err, jt)
		}
		for _, name := range []string{"join-token", managerTokenFile} {
			b, err := os.ReadFile(filepath.Join(d.DataDir(), name))
			if err != nil {
				t.Fatal(err)
			}
			if s := string(b); strings.Contains(s, jt.Worker) || strings.Contains(s, jt.Manager) {
				t.Errorf("manager %d: %s holds a join token that admits", i, name)
			}
		}
	}
}
