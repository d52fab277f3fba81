package dispatcher_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/state"
)

// A node that is up is removed only with force; then its session ends
// and its agent, registering again, is refused for good.
func TestRemoveUpNodeNeedsForceAndRefusesItsAgent(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	if err := e.d.RemoveNode(testCtx(t), "n1", false); !errors.Is(err, dispatcher.ErrNodeNotDown) {
		t.Fatalf("remove a ready node without force: %v, want ErrNodeNotDown", err)
	}
	if e.store.Read().Node("n1") == nil {
		t.Fatal("a refused removal removed the node")
	}
	if err := e.d.RemoveNode(testCtx(t), "n1", true); err != nil {
		t.Fatalf("remove --force: %v", err)
	}
	if e.store.Read().Node("n1") != nil {
		t.Fatal("node still in the store after removal")
	}
	select {
	case <-s.Done():
	case <-time.After(testTimeout):
		t.Fatal("the removed node's session is still open")
	}
	_, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: "n1", Addr: "10.0.0.1"})
	if !errors.Is(err, dispatcher.ErrNodeRemoved) {
		t.Fatalf("the removed node registers again: %v, want ErrNodeRemoved", err)
	}
	if e.store.Read().Node("n1") != nil {
		t.Fatal("the refused registration brought the node back")
	}
}

// Removing a down node frees its place in the full node table, even when
// it still has tasks (which the table's recycling would not touch).
func TestRemoveDownNodeFreesTableSlot(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.d.MaxNodes = 1
	e.start()
	e.register("n1", "10.0.0.1").Close()
	e.must(createTask(newTask("t1", "n1")), assign("t1", "n1"))
	e.must(state.Op{Kind: state.OpNodeStatus, ID: "n1", NodeStatus: &api.NodeStatus{State: api.NodeStateDown}})
	if _, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: "n2", Addr: "10.0.0.2"}); !errors.Is(err, dispatcher.ErrTooManyNodes) {
		t.Fatalf("a second node in a table of one: %v, want ErrTooManyNodes", err)
	}
	if err := e.d.RemoveNode(testCtx(t), "n1", false); err != nil {
		t.Fatalf("remove a down node: %v", err)
	}
	e.register("n2", "10.0.0.2")
}

func TestRemoveManagerRefused(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	e.must(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "m1",
		Spec: api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityActive}, Status: api.NodeStatus{State: api.NodeStateDown}}})
	if err := e.d.RemoveNode(testCtx(t), "m1", true); !errors.Is(err, dispatcher.ErrNodeIsManager) {
		t.Fatalf("remove a manager: %v, want ErrNodeIsManager", err)
	}
	if e.store.Read().Node("m1") == nil {
		t.Fatal("the manager was removed")
	}
}

// What a node registers never changes its spec, even when the operator's
// write lands between the registration's read and its write.
func TestRegisterNeverWritesTheSpec(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	e.register("n1", "10.0.0.1").Close()
	// A registration as the dispatcher built it before the operator's
	// update: with the spec it read then.
	stale := *e.store.Read().Node("n1")
	spec := api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityDrain, Labels: map[string]string{"zone": "a"}}
	e.must(state.Op{Kind: state.OpNodeSpec, ID: "n1", NodeSpec: &spec})
	stale.Spec.Labels = map[string]string{"zone": "mine"}
	e.must(state.Op{Kind: state.OpRegisterNode, Node: &stale})
	n := e.store.Read().Node("n1")
	if n.Spec.Availability != api.AvailabilityDrain || n.Spec.Labels["zone"] != "a" {
		t.Fatalf("spec after a registration: %+v, want the operator's %+v", n.Spec, spec)
	}
}

// A removed node stays removed when another dispatcher serves the
// cluster (a manager restart, or a new leader): its certificate is still
// valid for months, so the refusal must be in the replicated state, not
// in one dispatcher's memory.
func TestRemovedNodeRefusedByTheNextDispatcher(t *testing.T) {
	e := newEnv(t, time.Hour)
	stop := e.start()
	e.register("n1", "10.0.0.1")
	if err := e.d.RemoveNode(testCtx(t), "n1", true); err != nil {
		t.Fatalf("remove --force: %v", err)
	}
	stop()
	e.d = &dispatcher.Dispatcher{Store: e.store, Proposer: e.p, Logger: quiet, HeartbeatPeriod: time.Hour}
	e.start()
	_, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: "n1", Addr: "10.0.0.1"})
	if !errors.Is(err, dispatcher.ErrNodeRemoved) {
		t.Fatalf("the removed node registers with the next dispatcher: %v, want ErrNodeRemoved", err)
	}
	if e.store.Read().Node("n1") != nil {
		t.Fatal("the removed node is back in the store")
	}
}
