package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/shoalproject/shoal/internal/unlockkey"
)

// Under autolock a copy of a manager's folder opens nothing without the
// unlock key (architecture.md, Security), a promoted manager's too: its
// folder keeps no manager certificate once it has joined (it had kept
// the renewed one in clear, which fetched the secrets key, the unlock key
// and the real join tokens from any live manager), and the managers hand
// a promoted node the cluster's secrets only once, before it is in Raft.
// Found by review.
func TestPromotedFolderCopyOpensNoLockedSecrets(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.1", AgentListen: "127.0.0.1:0",
		HeartbeatPeriod: 500 * time.Millisecond, Autolock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	key := d.MadeUnlockKey()
	if key == "" {
		t.Fatal("no unlock key made")
	}
	c, _ := client.New(d.Host())
	acfg := AgentConfig{DataDir: t.TempDir(), Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2", Logger: quiet,
		Hostname: "worker-1", ListenAddr: testutil.FreeAddr(t, "127.0.0.2")}
	a := startRegistered(t, ctx, acfg)
	if err := c.NodePromote(ctx, a.NodeID()); err != nil {
		t.Fatal(err)
	}
	waitPromoted(t, ctx, a)
	p, err := StartPromoted(ctx, a, acfg)
	if err != nil {
		t.Fatal(err)
	}
	waitLocked(t, ctx, []*Dev{d, p}, key)
	p.Close() // powered off; its disk is copied

	file, err := os.ReadFile(filepath.Join(acfg.DataDir, "raft", secretkey.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if locked, _, _ := unlockkey.Locked(file); !locked {
		t.Fatal("the promoted manager's secret.key is not locked")
	}
	if _, err := ca.LoadNodeIdentity(acfg.DataDir); err == nil {
		t.Error("the promoted manager's folder still holds a node certificate")
	}
	// A certificate taken before it was removed (a copy made while the
	// node was joining) gets nothing either once the node is in Raft.
	got, err := joinPromoted(ctx, d.AgentAddr(), a.promotedID)
	if err == nil {
		k, _ := unlockkey.FromBytes(got.UnlockKey)
		raw, uerr := unlockkey.Unlock(k, file)
		t.Fatalf("a copy of a locked promoted manager's folder got the cluster's secrets from a live manager: "+
			"secrets key %d bytes, unlock key %v (opens the copied secret.key: %v), manager token %.20s...",
			len(got.SecretKey), k != nil, uerr == nil && len(raw) == secretkey.Size, got.ManagerToken)
	}
}
