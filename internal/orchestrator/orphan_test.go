package orchestrator

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// downNode1 settles replicas on node1, adds node2 and marks node1 down:
// its tasks are replaced on node2 and, with no agent to report them
// stopped, stay running in the store.
func downNode1(t *testing.T, replicas uint64) (s *sim, old []*api.Task, downAt time.Time) {
	s = newSim(t, replicas, nil)
	s.settle()
	old = s.live()
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, nil)})
	downAt = s.clock.Now()
	s.write(state.Op{Kind: state.OpNodeStatus, ID: "node1", NodeStatus: &api.NodeStatus{State: api.NodeStateDown, Message: "heartbeat failure"}})
	s.node, s.silent = "node2", map[string]bool{"node1": true}
	s.settle()
	checkAllOn(t, s, int(replicas), "node2")
	return s, old, downAt
}

func (s *sim) states(ts []*api.Task) map[string]api.TaskState {
	out := map[string]api.TaskState{}
	for _, t := range ts {
		if got := s.store.Read().Task(t.ID); got != nil {
			out[t.ID] = got.Status.State
		}
	}
	return out
}

// checkAll fails unless every task of ts is in state want.
func (s *sim) checkAll(ts []*api.Task, want api.TaskState, why string) {
	s.t.Helper()
	for id, st := range s.states(ts) {
		if st != want {
			s.t.Fatalf("task %s is %s, want %s: %s", id, st, want, why)
		}
	}
}

// Swarm's dispatcher marks the tasks of a node down for 24 hours
// orphaned; until then they are only shut down (the node may come back
// and stop them itself), and the orchestrator wakes at the deadline.
func TestDownNodeTasksOrphanedAfterTheDefaultPeriod(t *testing.T) {
	s, old, downAt := downNode1(t, 2)
	deadline := downAt.Add(state.DefaultOrphanAfter)
	if got := s.wakes[s.svcID]; !got.Equal(deadline) {
		t.Fatalf("orchestrator wakes at %v, want the orphan deadline %v", got, deadline)
	}
	s.clock.Advance(state.DefaultOrphanAfter - time.Second)
	s.settle()
	s.checkAll(old, api.TaskStateRunning, "a second before the deadline (not yet orphaned)")
	s.clock.Advance(time.Second)
	s.settle()
	for _, o := range old {
		got := s.store.Read().Task(o.ID)
		if got == nil || got.Status.State != api.TaskStateOrphaned || got.DesiredState != api.TaskStateShutdown {
			t.Fatalf("task %s of the down node after 24h: %+v, want orphaned, desired shutdown", o.ID, got)
		}
	}
	if _, ok := s.wakes[s.svcID]; ok {
		t.Fatalf("orchestrator still wakes at %v with nothing left to orphan", s.wakes[s.svcID])
	}
	checkAllOn(t, s, 2, "node2")
}

// Orphaned, they are history: reaped by the retention rules, here those
// of a removed service (before, a down node's tasks stayed forever).
func TestOrphanedTasksAreReaped(t *testing.T) {
	s, old, _ := downNode1(t, 2)
	s.clock.Advance(state.DefaultOrphanAfter)
	s.settle()
	s.write(state.Op{Kind: state.OpDeleteService, ID: s.svcID})
	s.settle()
	if left := s.states(old); len(left) != 0 {
		t.Fatalf("tasks of the down node left after their service was removed: %v", left)
	}
}

// The period is a cluster setting, written when the cluster is created.
func TestOrphanPeriodIsTheClusters(t *testing.T) {
	s := newSim(t, 1, nil)
	s.write(state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.0.0.0/8"}, SubnetSize: 24, OrphanAfter: time.Minute}})
	s.settle()
	old := s.live()
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, nil)})
	s.write(state.Op{Kind: state.OpNodeStatus, ID: "node1", NodeStatus: &api.NodeStatus{State: api.NodeStateDown}})
	s.node, s.silent = "node2", map[string]bool{"node1": true}
	s.settle()
	// Marked down again (a retried write) does not restart its clock.
	s.clock.Advance(30 * time.Second)
	s.write(state.Op{Kind: state.OpNodeStatus, ID: "node1", NodeStatus: &api.NodeStatus{State: api.NodeStateDown}})
	s.clock.Advance(30 * time.Second)
	s.settle()
	if st := s.states(old); st[old[0].ID] != api.TaskStateOrphaned {
		t.Fatalf("task after the cluster's 1m orphan period: %v, want orphaned", st)
	}
}

// A node back before the period keeps its tasks out of the orphaned
// state: its agent reports them stopped (shut down as desired).
func TestNodeBackBeforeThePeriodIsNotOrphaned(t *testing.T) {
	s, old, _ := downNode1(t, 2)
	s.clock.Advance(time.Hour)
	s.write(state.Op{Kind: state.OpNodeStatus, ID: "node1", NodeStatus: &api.NodeStatus{State: api.NodeStateReady}})
	s.silent = nil // its agent answers again: it stops the stale tasks
	s.settle()
	s.checkAll(old, api.TaskStateShutdown, "stopped by its agent")
	s.clock.Advance(state.DefaultOrphanAfter)
	s.settle()
	for id, st := range s.states(old) {
		if st == api.TaskStateOrphaned {
			t.Fatalf("task %s orphaned though its node came back", id)
		}
	}
	checkAllOn(t, s, 2, "node2")
}
