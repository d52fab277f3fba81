package daemon

import (
	"testing"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/state"
)

// A Raft voter whose node the cluster records as a worker (a demotion
// that stopped half-way, or one raced by the node's own promoteSelf) is
// taken out of Raft by node demote (found by review: before, demote said
// "already a worker" and rm --force "member of the raft cluster").
func TestVoterRecordedAsWorkerIsDemoted(t *testing.T) {
	ctx := testCtx(t)
	cfg0 := managerCfg(t, 0)
	d0, err := StartDev(ctx, cfg0)
	if err != nil {
		t.Fatal(err)
	}
	defer d0.Close()
	cfg1 := managerCfg(t, 1)
	cfg1.Join, cfg1.JoinToken = d0.AgentAddr(), d0.ManagerToken()
	d1, err := StartDev(ctx, cfg1)
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	n := d0.Manager().Store().Read().Node(d1.NodeID())
	spec := n.Spec
	spec.Role = "worker"
	if res, err := d0.Manager().Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpNodeSpec, ID: n.ID, NodeSpec: &spec}}}); err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	c, _ := client.New(d0.Host())
	derr := c.NodeDemote(ctx, d1.NodeID())
	rerr := c.NodeRemove(ctx, d1.NodeID(), true)
	members, _ := d0.Manager().Raft().Members()
	if len(members) == 2 {
		t.Fatalf("a voter recorded as a worker cannot be removed: demote: %v; rm --force: %v; voters %v", derr, rerr, members)
	}
}
