package orchestrator

import (
	"context"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// running counts the service's tasks that run now.
func (s *sim) running() int {
	n := 0
	for _, t := range s.store.Read().TasksByService(s.svcID) {
		if t.Status.State == api.TaskStateRunning {
			n++
		}
	}
	return n
}

// settleWatching is settle, calling check after every round.
func (s *sim) settleWatching(check func()) {
	s.t.Helper()
	for i := 0; i < 100; i++ {
		before := s.store.Index()
		if err := s.orch.pass(context.Background(), map[string]bool{s.svcID: true}, s.wakes); err != nil {
			s.t.Fatal(err)
		}
		for _, t := range s.store.Read().TasksByService(s.svcID) {
			switch {
			case t.Status.State == api.TaskStatePending && t.DesiredState <= api.TaskStateRunning:
				s.write(state.Op{Kind: state.OpAssignTask, ID: t.ID, NodeID: s.node})
			case t.Status.State == api.TaskStateAssigned && t.DesiredState <= api.TaskStateRunning:
				s.report(t, api.TaskStateRunning, "started")
			case !t.Status.State.Terminal() && t.Status.State >= api.TaskStateAssigned && t.DesiredState > api.TaskStateRunning:
				s.report(t, api.TaskStateShutdown, "shutdown")
			}
		}
		check()
		if s.store.Index() == before {
			return
		}
	}
	s.t.Fatal("did not settle in 100 rounds")
}

// drainNode1 settles replicas on node1, adds an active node2 and drains
// node1 (the scheduler's part, placing on node2, is played by the sim).
func drainNode1(t *testing.T, order string) *sim {
	if order == "" {
		return drainNode1With(t, nil)
	}
	return drainNode1With(t, func(spec *api.ServiceSpec) {
		spec.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Order: order}
	})
}

// drainNode1With is drainNode1 for a service whose spec change made
// first (nil: none).
func drainNode1With(t *testing.T, change func(*api.ServiceSpec)) *sim {
	s := newSim(t, 2, nil)
	if change != nil {
		cur := *s.store.Read().Service(s.svcID)
		change(&cur.Spec)
		s.write(state.Op{Kind: state.OpUpdateService, Service: &cur})
	}
	s.settle()
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, nil)})
	s.write(state.Op{Kind: state.OpNodeSpec, ID: "node1", NodeSpec: &api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityDrain}})
	s.node = "node2"
	return s
}

func checkAllOn(t *testing.T, s *sim, want int, node string) {
	t.Helper()
	live := s.live()
	if len(live) != want {
		t.Fatalf("%d live tasks, want %d", len(live), want)
	}
	for _, tk := range live {
		if tk.NodeID != node || tk.Status.State != api.TaskStateRunning {
			t.Fatalf("task %s is %s on %s, want running on %s", tk.ID, tk.Status.State, tk.NodeID, node)
		}
	}
}

func TestDrainStartFirstKeepsRunningCount(t *testing.T) {
	s := drainNode1(t, api.UpdateOrderStartFirst)
	s.settleWatching(func() {
		if n := s.running(); n < 2 {
			t.Fatalf("%d tasks running during the drain, want at least 2 (start-first)", n)
		}
	})
	checkAllOn(t, s, 2, "node2")
}

func TestDrainStopFirstMovesTasks(t *testing.T) {
	s := drainNode1(t, "")
	s.settle()
	checkAllOn(t, s, 2, "node2")
}

func TestDrainStartFirstWithNowhereToGoKeepsTasks(t *testing.T) {
	s := drainNode1(t, api.UpdateOrderStartFirst)
	// node2 goes down before anything is placed: the replacements stay
	// pending (the sim places nothing), and the drained tasks keep running.
	s.write(state.Op{Kind: state.OpNodeStatus, ID: "node2", NodeStatus: &api.NodeStatus{State: api.NodeStateDown}})
	if err := s.orch.pass(context.Background(), map[string]bool{s.svcID: true}, s.wakes); err != nil {
		t.Fatal(err)
	}
	if n := s.running(); n != 2 {
		t.Fatalf("%d running, want the 2 drained tasks kept until their replacements run", n)
	}
}

func TestPausedNodeKeepsReplicatedTasks(t *testing.T) {
	s := newSim(t, 2, nil)
	s.settle()
	s.write(state.Op{Kind: state.OpNodeSpec, ID: "node1", NodeSpec: &api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityPause}})
	s.settle()
	checkAllOn(t, s, 2, "node1")
}

// A removed node's tasks are replaced on another node at once, and marked
// orphaned: no agent will report them stopped.
func TestRemovedNodeTasksOrphanedAndReplaced(t *testing.T) {
	s := newSim(t, 2, nil)
	s.settle()
	old := s.live()
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, nil)})
	s.write(state.Op{Kind: state.OpDeleteNode, ID: "node1"})
	// One pass, with no agent to answer for node1.
	if err := s.orch.pass(context.Background(), map[string]bool{s.svcID: true}, s.wakes); err != nil {
		t.Fatal(err)
	}
	for _, o := range old {
		if got := s.store.Read().Task(o.ID); got == nil || got.Status.State != api.TaskStateOrphaned || got.DesiredState != api.TaskStateShutdown {
			t.Errorf("task %s of the removed node: %+v, want orphaned and desired shutdown", o.ID, got)
		}
	}
	s.node = "node2"
	s.settle()
	checkAllOn(t, s, 2, "node2")
	// Its service removed, they are reaped like any ended task.
	s.write(state.Op{Kind: state.OpDeleteService, ID: s.svcID})
	s.settle()
	if n := len(s.store.Read().TasksByService(s.svcID)); n != 0 {
		t.Errorf("%d tasks left after the service was removed", n)
	}
}

// Drain is the operator moving tasks, not a failure: the slots are
// refilled elsewhere whatever the restart condition, none included.
func TestDrainMovesTasksWhateverTheRestartCondition(t *testing.T) {
	s := drainNode1With(t, func(spec *api.ServiceSpec) {
		spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: api.RestartConditionNone}
	})
	s.settle()
	checkAllOn(t, s, 2, "node2")
}
