package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
)

// waitPromoted waits until the agent's node was promoted and its
// certificate says so.
func waitPromoted(t *testing.T, ctx context.Context, a *Agent) {
	t.Helper()
	select {
	case <-a.Promoted():
	case <-a.Done():
		t.Fatalf("agent stopped: %v", a.Err())
	case <-ctx.Done():
		t.Fatal("the agent never learnt it was promoted")
	}
}

// A worker promoted with `node promote` becomes a manager in its own
// process: its agent learns the role from its assignments, renews its
// certificate as a manager, and its manager joins Raft with that
// certificate (no token) under the node's ID. It then answers API writes
// (forwarded to the leader), the managers see 2 voters and 2 managers,
// and its task ran on throughout. Demoting it again works.
func TestPromoteWorker(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.1", AgentListen: "127.0.0.1:0", HeartbeatPeriod: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, _ := client.New(d.Host())
	acfg := AgentConfig{DataDir: t.TempDir(), Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2", Logger: quiet,
		Hostname: "worker-1", ListenAddr: testutil.FreeAddr(t, "127.0.0.2")}
	a := startRegistered(t, ctx, acfg)
	spec := api.ServiceSpec{Name: "steady", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "1000"}},
			Placement: &api.Placement{Constraints: []string{"node.hostname==worker-1"}}}}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	var task *api.Task
	waitStore(t, ctx, d.Manager().Store(), "the task running on the worker", func(tx *state.ReadTx) bool {
		for _, tk := range tx.TasksByNode(a.NodeID()) {
			if tk.Status.State == api.TaskStateRunning {
				task = tk
				return true
			}
		}
		return false
	})

	if err := c.NodePromote(ctx, a.NodeID()); err != nil {
		t.Fatal(err)
	}
	waitPromoted(t, ctx, a)
	id, err := ca.LoadNodeIdentity(acfg.DataDir)
	if err != nil || id.ID.Role != ca.RoleManager || id.ID.NodeID != a.NodeID() {
		t.Fatalf("the promoted node's certificate: %+v, %v", id, err)
	}
	start := time.Now()
	p, err := StartPromoted(ctx, a, acfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Logf("agent to manager: %v", time.Since(start))
	if p.NodeID() != a.NodeID() {
		t.Fatalf("the manager's node %s, want the worker's %s", p.NodeID(), a.NodeID())
	}
	members, _ := d.Manager().Raft().Members()
	got := map[string]string{}
	for _, m := range members {
		got[m.ID] = m.Addr
	}
	if len(members) != 2 || got[p.NodeID()] != acfg.ListenAddr {
		t.Fatalf("raft voters %v, want 2 with %s at %s", members, p.NodeID(), acfg.ListenAddr)
	}
	// A write through the promoted manager, forwarded to the leader.
	pc, _ := client.New(p.Host())
	if _, err := pc.ConfigCreate(ctx, api.ConfigSpec{Name: "via-promoted", Data: []byte("x")}); err != nil {
		t.Fatalf("write through the promoted manager: %v", err)
	}
	waitStore(t, ctx, d.Manager().Store(), "2 managers ready, the task still running", func(tx *state.ReadTx) bool {
		managers := 0
		for _, n := range tx.Nodes() {
			if n.Spec.Role == api.RoleManager && n.Status.State == api.NodeStateReady {
				managers++
			}
		}
		tk := tx.Task(task.ID)
		return managers == 2 && tk != nil && tk.Status.State == api.TaskStateRunning
	})
	if tk := d.Manager().Store().Read().Task(task.ID); tk.Status.RuntimeID != task.Status.RuntimeID {
		t.Errorf("the task's process changed: %s, was %s", tk.Status.RuntimeID, task.Status.RuntimeID)
	}
	// Promoting it again is refused; demoting it works.
	if err := c.NodePromote(ctx, p.NodeID()); err == nil || !strings.Contains(err.Error(), "already a manager") {
		t.Errorf("promote a manager: %v", err)
	}
	if err := c.NodeDemote(ctx, p.NodeID()); err != nil {
		t.Fatalf("demote the promoted node: %v", err)
	}
	if members, _ := d.Manager().Raft().Members(); len(members) != 1 {
		t.Fatalf("raft voters after demote %v, want 1", members)
	}
	if err := c.ServiceRemove(ctx, "steady"); err != nil {
		t.Fatal(err)
	}
	waitStore(t, ctx, d.Manager().Store(), "the task gone", func(tx *state.ReadTx) bool { return len(tx.Tasks()) == 0 })
}

// A worker promoted while its agent was stopped, before it renewed its
// certificate, is refused registration with its worker certificate; the
// agent that comes back renews as a manager and starts its manager.
func TestPromotedWhileAway(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.1", AgentListen: "127.0.0.1:0", HeartbeatPeriod: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	acfg := AgentConfig{DataDir: t.TempDir(), Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2", Logger: quiet,
		ListenAddr: testutil.FreeAddr(t, "127.0.0.2")}
	a, err := StartAgent(ctx, acfg)
	if err != nil {
		t.Fatal(err)
	}
	waitRegistered(t, ctx, a)
	a.Close()
	c, _ := client.New(d.Host())
	// Still ready: its heartbeats stopped a moment ago.
	if err := c.NodePromote(ctx, a.NodeID()); err != nil {
		t.Fatal(err)
	}
	acfg.Token = ""
	back, err := StartAgent(ctx, acfg)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	waitPromoted(t, ctx, back)
	p, err := StartPromoted(ctx, back, acfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if members, _ := d.Manager().Raft().Members(); len(members) != 2 {
		t.Fatalf("raft voters %v, want 2", members)
	}
}

// A worker of an autolocked cluster is promoted as any other: its
// manager's join answers the unlock key with the secrets, and it takes
// writes.
func TestPromoteWorkerOfALockedCluster(t *testing.T) {
	ctx := testCtx(t)
	d, err := StartDev(ctx, DevConfig{DataDir: t.TempDir(), Logger: quiet, Addr: "127.0.0.1", AgentListen: "127.0.0.1:0", Autolock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	acfg := AgentConfig{DataDir: t.TempDir(), Manager: d.AgentAddr(), Token: d.JoinToken(), Addr: "127.0.0.2", Logger: quiet,
		ListenAddr: testutil.FreeAddr(t, "127.0.0.2")}
	a := startRegistered(t, ctx, acfg)
	c, _ := client.New(d.Host())
	if err := c.NodePromote(ctx, a.NodeID()); err != nil {
		t.Fatal(err)
	}
	waitPromoted(t, ctx, a)
	p, err := StartPromoted(ctx, a, acfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pc, _ := client.New(p.Host())
	if _, err := pc.SecretCreate(ctx, secretSpec("after-promote")); err != nil {
		t.Fatalf("a write through the promoted manager of a locked cluster: %v", err)
	}
	if members, _ := d.Manager().Raft().Members(); len(members) != 2 {
		t.Fatalf("raft voters %v, want 2", members)
	}
}
