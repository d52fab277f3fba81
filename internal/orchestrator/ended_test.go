package orchestrator

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// A task that ended and will not be restarted no longer wants to run: its
// desired state is shutdown (so `service ps -f desired-state=running` does
// not list it), and its slot stays empty.
func TestEndedTaskThatWillNotRestartIsShutDown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy *api.RestartPolicy
		fails  int
	}{
		{"condition none", &api.RestartPolicy{Condition: api.RestartConditionNone}, 1},
		{"on-failure after a clean exit", &api.RestartPolicy{Condition: api.RestartConditionOnFailure}, 0},
		{"max attempts spent", &api.RestartPolicy{Delay: api.DurationPtr(0), MaxAttempts: u64(1)}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, 1, tc.policy)
			s.settle()
			var last *api.Task
			for i := 0; i < max(tc.fails, 1); i++ {
				last = s.live()[0]
				st := api.TaskStateFailed
				if tc.fails == 0 {
					st = api.TaskStateComplete
				}
				s.clock.Advance(time.Second)
				s.report(last, st, "exited")
				s.settle()
			}
			s.clock.Advance(time.Hour)
			s.settle()
			if n := len(s.live()); n != 0 {
				t.Fatalf("%d live tasks, want the slot left empty", n)
			}
			for _, tk := range s.store.Read().TasksByService(s.svcID) {
				if tk.DesiredState != api.TaskStateShutdown {
					t.Errorf("ended task %s (%s) has desired state %s, want shutdown", tk.ID, tk.Status.State, tk.DesiredState)
				}
			}
			if got := s.store.Read().Task(last.ID); got == nil {
				t.Fatalf("the ended task %s was not kept as history", last.ID)
			}
		})
	}
}

// Restart condition none holds when a node is lost: its tasks are shut
// down and not replaced, as Swarm leaves them; not when the node comes
// back either. Any other condition replaces them at once.
func TestConditionNoneLeavesTasksOfALostNode(t *testing.T) {
	for _, cond := range []string{api.RestartConditionNone, api.RestartConditionAny, api.RestartConditionOnFailure} {
		t.Run(cond, func(t *testing.T) {
			s := newSim(t, 2, &api.RestartPolicy{Condition: cond})
			s.settle()
			s.write(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "node2",
				Spec:        api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive},
				Description: api.NodeDescription{Runtimes: []string{api.RuntimeProcess}},
				Status:      api.NodeStatus{State: api.NodeStateReady}}})
			s.write(state.Op{Kind: state.OpNodeStatus, ID: "node1", NodeStatus: &api.NodeStatus{State: api.NodeStateDown}})
			s.node = "node2"
			s.settle()
			want := 2
			if cond == api.RestartConditionNone {
				want = 0
			}
			if n := len(s.live()); n != want {
				t.Fatalf("%d live tasks after node1 went down, want %d", n, want)
			}
			for _, tk := range s.store.Read().TasksByService(s.svcID) {
				if tk.NodeID == "node1" && tk.DesiredState != api.TaskStateShutdown {
					t.Fatalf("lost task %s has desired state %s, want shutdown", tk.ID, tk.DesiredState)
				}
			}
			// node1 comes back; its tasks stop there (settle reports
			// them shut down). The slots are still not refilled.
			s.write(state.Op{Kind: state.OpNodeStatus, ID: "node1", NodeStatus: &api.NodeStatus{State: api.NodeStateReady}})
			s.clock.Advance(time.Hour)
			s.settle()
			if n := len(s.live()); n != want {
				t.Fatalf("%d live tasks after node1 came back, want %d", n, want)
			}
		})
	}
}
