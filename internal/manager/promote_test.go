package manager_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/state"
)

// `node promote` records a worker as a manager only when its agent can
// start one: an unknown node, a manager, a node that is down and one
// whose agent has no cluster port (--listen-addr) are refused, each
// saying why, and nothing is written.
func TestPromoteNodeRefusals(t *testing.T) {
	m := start(t, t.TempDir())
	ctx := testCtx(t)
	node := func(id, role, st, listen string) state.Op {
		return state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: id, Spec: api.NodeSpec{Role: role, Availability: api.AvailabilityActive},
			Description: api.NodeDescription{Hostname: id, ListenAddr: listen}, Status: api.NodeStatus{State: st, Addr: "127.0.0.2"}}}
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{
		node("down", api.RoleWorker, api.NodeStateDown, "127.0.0.2:4243"),
		node("boss", api.RoleManager, api.NodeStateReady, "127.0.0.2:4243"),
		node("nolisten", api.RoleWorker, api.NodeStateReady, ""),
		node("ready", api.RoleWorker, api.NodeStateReady, "127.0.0.2:4243"),
	}})
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	for _, c := range []struct{ ref, want string }{
		{"nosuchnode", "not found"},
		{"boss", "already a manager"},
		{"down", "node down is down"},
		{"nolisten", "--listen-addr"},
	} {
		err := m.PromoteNode(ctx, c.ref)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("promote %s: %v, want an error saying %q", c.ref, err, c.want)
		}
		if c.ref != "nosuchnode" && !errors.Is(err, manager.ErrConflict) {
			t.Errorf("promote %s: %v, want a conflict", c.ref, err)
		}
		if n := m.Store().Read().Node(c.ref); n != nil && c.ref != "boss" && n.Spec.Role != api.RoleWorker {
			t.Errorf("refused promote of %s changed its role to %s", c.ref, n.Spec.Role)
		}
	}
	if err := m.PromoteNode(ctx, "ready"); err != nil {
		t.Fatalf("promote a ready worker: %v", err)
	}
	n := m.Store().Read().Node("ready")
	if n.Spec.Role != api.RoleManager {
		t.Fatalf("promoted node's role %q", n.Spec.Role)
	}
	// Raft changes only when the node's manager asks to join.
	if members, _ := m.Raft().Members(); len(members) != 1 {
		t.Fatalf("raft voters %v, want 1", members)
	}
}
