package orchestrator

import (
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

func node(id, avail, st string, labels map[string]string) *api.Node {
	return &api.Node{ID: id,
		Spec:        api.NodeSpec{Role: api.RoleWorker, Availability: avail, Labels: labels},
		Description: api.NodeDescription{Runtimes: []string{api.RuntimeProcess}},
		Status:      api.NodeStatus{State: st}}
}

// globalSim is a sim whose service is global.
func globalSim(t *testing.T, constraints ...string) *sim {
	s := newSim(t, 0, nil)
	cur := *s.store.Read().Service(s.svcID)
	cur.Spec.Mode = api.ServiceMode{Global: &api.GlobalService{}}
	if len(constraints) > 0 {
		cur.Spec.TaskTemplate.Placement = &api.Placement{Constraints: constraints}
	}
	s.write(state.Op{Kind: state.OpUpdateService, Service: &cur})
	return s
}

// settleGlobal plays scheduler and agent for a global service: each task
// goes to the node it was made for.
func (s *sim) settleGlobal() {
	s.t.Helper()
	for i := 0; i < 100; i++ {
		before := s.store.Index()
		if err := s.orch.pass(t0ctx(), map[string]bool{s.svcID: true}, s.wakes); err != nil {
			s.t.Fatal(err)
		}
		for _, t := range s.store.Read().TasksByService(s.svcID) {
			switch {
			case t.Status.State == api.TaskStatePending && t.DesiredState <= api.TaskStateRunning:
				s.write(state.Op{Kind: state.OpAssignTask, ID: t.ID, NodeID: t.NodeID})
			case t.Status.State == api.TaskStateAssigned && t.DesiredState <= api.TaskStateRunning:
				s.report(t, api.TaskStateRunning, "started")
			case !t.Status.State.Terminal() && t.Status.State >= api.TaskStateAssigned && t.DesiredState > api.TaskStateRunning:
				s.report(t, api.TaskStateShutdown, "shutdown")
			}
		}
		if s.store.Index() == before {
			return
		}
	}
	s.t.Fatal("did not settle")
}

func liveNodes(s *sim) map[string]int {
	out := map[string]int{}
	for _, t := range s.live() {
		out[t.NodeID]++
	}
	return out
}

func TestGlobalServiceFollowsNodes(t *testing.T) {
	s := globalSim(t)
	s.settleGlobal()
	if got := liveNodes(s); len(got) != 1 || got["node1"] != 1 {
		t.Fatalf("tasks per node %v, want one on node1", got)
	}
	// A node joins: it gets a task.
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, nil)})
	s.settleGlobal()
	if got := liveNodes(s); len(got) != 2 || got["node2"] != 1 {
		t.Fatalf("after a join: %v, want one task on each node", got)
	}
	// Drained: its task goes.
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityDrain, api.NodeStateReady, nil)})
	s.settleGlobal()
	if got := liveNodes(s); got["node2"] != 0 {
		t.Fatalf("after a drain: %v, want none on node2", got)
	}
	// Active again, then down: the down node's task is retired.
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, nil)})
	s.settleGlobal()
	if got := liveNodes(s); got["node2"] != 1 {
		t.Fatalf("after reactivation: %v", got)
	}
	s.write(state.Op{Kind: state.OpNodeStatus, ID: "node2", NodeStatus: &api.NodeStatus{State: api.NodeStateDown}})
	s.settleGlobal()
	if got := liveNodes(s); got["node2"] != 0 || got["node1"] != 1 {
		t.Fatalf("after node2 went down: %v, want only node1", got)
	}
}

func TestGlobalServiceKeepsToConstrainedNodes(t *testing.T) {
	s := globalSim(t, "node.labels.zone==a")
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, map[string]string{"zone": "a"})})
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node3", api.AvailabilityActive, api.NodeStateReady, map[string]string{"zone": "b"})})
	s.settleGlobal()
	if got := liveNodes(s); len(got) != 1 || got["node2"] != 1 {
		t.Fatalf("tasks per node %v, want only node2 (zone a)", got)
	}
}

func TestGlobalPausedNodeKeepsButGetsNoNewTask(t *testing.T) {
	s := globalSim(t)
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityPause, api.NodeStateReady, nil)})
	s.settleGlobal()
	if got := liveNodes(s); got["node2"] != 0 {
		t.Fatalf("a paused node got a new task: %v", got)
	}
}

// Paused after its task runs, a node keeps it: pause takes no new tasks
// but moves none (drain does).
func TestGlobalTaskStaysOnANodePausedLater(t *testing.T) {
	s := globalSim(t)
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, nil)})
	s.settleGlobal()
	var was string
	for _, tk := range s.live() {
		if tk.NodeID == "node2" {
			was = tk.ID
		}
	}
	s.write(state.Op{Kind: state.OpNodeSpec, ID: "node2", NodeSpec: &api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityPause}})
	s.settleGlobal()
	if got := s.store.Read().Task(was); was == "" || got.Status.State != api.TaskStateRunning || got.DesiredState != api.TaskStateRunning {
		t.Fatalf("node2's global task %q after pause: %+v, want still running", was, got)
	}
	if got := liveNodes(s); got["node1"] != 1 || got["node2"] != 1 {
		t.Fatalf("live tasks per node %v, want 1 on each", got)
	}
}
