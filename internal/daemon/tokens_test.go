package daemon

import (
	"errors"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/state"
)

// A join token rotated through one manager is rotated on all three: the
// old worker token joins no worker and the old manager token no manager,
// through any manager, while the new ones do; every manager shows the new
// token, the other role's is unchanged, and a worker that joined with
// the old token keeps working and rejoins after a restart (it holds its
// certificate).
func TestRotatedTokenAdmitsNoOneOnAnyManager(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagers(t, ctx, 3)
	oldW, oldM := ds[0].JoinToken(), ds[0].ManagerToken()
	workerDir := t.TempDir()
	a := startRegistered(t, ctx, AgentConfig{DataDir: workerDir, Manager: ds[1].AgentAddr(), Token: oldW, Addr: "127.0.0.9", Logger: quiet})

	// Rotate through a follower: the write goes to the leader.
	c2, _ := client.New(ds[2].Host())
	if err := c2.RotateJoinToken(ctx, "worker"); err != nil {
		t.Fatalf("rotate the worker token: %v", err)
	}
	sw, err := c2.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	newW := sw.JoinTokens.Worker
	if newW == oldW || sw.JoinTokens.Manager != oldM {
		t.Fatalf("after a worker rotation: worker changed %v, manager kept %v", newW != oldW, sw.JoinTokens.Manager == oldM)
	}
	c1, _ := client.New(ds[1].Host())
	if err := c1.RotateJoinToken(ctx, "manager"); err != nil {
		t.Fatalf("rotate the manager token: %v", err)
	}
	for i, d := range ds {
		waitStore(t, ctx, d.Manager().Store(), "both rotations", func(*state.ReadTx) bool {
			return d.JoinToken() == newW && d.ManagerToken() != oldM
		})
		c, _ := client.New(d.Host())
		got, err := c.SwarmInspect(ctx)
		if err != nil || got.JoinTokens.Worker != newW || got.JoinTokens.Manager != d.ManagerToken() {
			t.Fatalf("manager %d shows %+v (%v), want the new tokens", i, got, err)
		}
		_, _, _, err = agentlink.Join(ctx, d.AgentAddr(), oldW, "127.0.0.10")
		if !errors.Is(err, agent.ErrRejected) {
			t.Fatalf("manager %d: a worker joins with the rotated token: %v", i, err)
		}
		if _, err := joinManager(ctx, d.AgentAddr(), oldM); err == nil {
			t.Fatalf("manager %d: a manager joins with the rotated token", i)
		}
	}
	newM := ds[2].ManagerToken()
	if _, _, _, err := agentlink.Join(ctx, ds[2].AgentAddr(), newW, "127.0.0.10"); err != nil {
		t.Fatalf("a worker with the new token: %v", err)
	}
	if _, err := joinManager(ctx, ds[1].AgentAddr(), newM); err != nil {
		t.Fatalf("a manager with the new token: %v", err)
	}

	// The worker that joined before keeps its node, and rejoins by its
	// certificate.
	id := a.NodeID()
	a.Close()
	b := startRegistered(t, ctx, AgentConfig{DataDir: workerDir, Manager: ds[0].AgentAddr(), Addr: "127.0.0.9", Logger: quiet})
	if b.NodeID() != id {
		t.Fatalf("restarted as %s, want %s", b.NodeID(), id)
	}
	waitStore(t, ctx, ds[0].Manager().Store(), "the worker ready", func(tx *state.ReadTx) bool {
		n := tx.Node(id)
		return n != nil && n.Status.State == api.NodeStateReady
	})
}

// A rotation of an unknown role is refused; nothing changes.
func TestRotateUnknownRole(t *testing.T) {
	ctx := testCtx(t)
	ds := startManagers(t, ctx, 1)
	before := ds[0].JoinToken()
	c, _ := client.New(ds[0].Host())
	err := c.RotateJoinToken(ctx, "admin")
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("rotate admin: %v, want 400", err)
	}
	if ds[0].JoinToken() != before {
		t.Fatal("the worker token changed")
	}
}
