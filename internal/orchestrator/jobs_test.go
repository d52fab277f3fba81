package orchestrator

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// jobSim is a sim whose service is a replicated job.
func jobSim(t tb, concurrent, total uint64, rp *api.RestartPolicy) *sim {
	s := newSim(t, 0, rp)
	cur := *s.store.Read().Service(s.svcID)
	cur.Spec.Mode = api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: concurrent, TotalCompletions: total}}
	s.write(state.Op{Kind: state.OpUpdateService, Service: &cur})
	return s
}

// finishAll reports every live task of the service ended in st.
func (s *sim) finishAll(st api.TaskState) int {
	live := s.live()
	for _, tk := range live {
		s.report(tk, st, "exited")
	}
	return len(live)
}

func (s *sim) countState(st api.TaskState) int {
	n := 0
	for _, tk := range s.store.Read().TasksByService(s.svcID) {
		if tk.Status.State == st {
			n++
		}
	}
	return n
}

func TestReplicatedJobRunsToTotalCompletionsAtMostMaxConcurrent(t *testing.T) {
	s := jobSim(t, 2, 5, nil)
	done := 0
	for round := 0; done < 5; round++ {
		if round > 5 {
			t.Fatalf("%d completions after %d rounds, want 5", done, round)
		}
		s.settle()
		want := min(2, 5-done)
		if n := len(s.live()); n != want {
			t.Fatalf("round %d: %d tasks run, want %d (max-concurrent 2, %d of 5 completed)", round, n, want, done)
		}
		done += s.finishAll(api.TaskStateComplete)
	}
	s.clock.Advance(time.Hour)
	s.settle()
	if n := len(s.live()); n != 0 {
		t.Fatalf("%d tasks run after 5 of 5 completions, want none", n)
	}
	if n := s.countState(api.TaskStateComplete); n != 5 {
		t.Fatalf("%d completed tasks, want 5", n)
	}
	for _, tk := range s.store.Read().TasksByService(s.svcID) {
		if tk.DesiredState != api.TaskStateShutdown {
			t.Errorf("completed task %s (slot %d) wants %s, want shutdown", tk.ID, tk.Slot, tk.DesiredState)
		}
	}
}

func TestJobTaskThatFailsIsRestartedOneThatExitsZeroIsNot(t *testing.T) {
	// Condition any, Swarm's default for services, still leaves a
	// completed job task alone: exit 0 is the job's success.
	for _, rp := range []*api.RestartPolicy{nil, {Condition: api.RestartConditionAny}} {
		s := jobSim(t, 1, 1, rp)
		s.settle()
		first := s.live()[0]
		s.clock.Advance(time.Second)
		s.report(first, api.TaskStateFailed, "exited")
		s.clock.Advance(api.DefaultRestartDelay)
		s.settle()
		live := s.live()
		if len(live) != 1 || live[0].Slot != first.Slot || live[0].Restarts != 1 {
			t.Fatalf("after a failure: live %v, want the slot's task restarted once", live)
		}
		s.report(live[0], api.TaskStateComplete, "exited")
		s.clock.Advance(time.Hour)
		s.settle()
		if n := len(s.live()); n != 0 {
			t.Fatalf("%d tasks run after the job completed, want none", n)
		}
		if n := len(s.store.Read().TasksByService(s.svcID)); n != 2 {
			t.Fatalf("%d tasks, want the failed one and the completed one", n)
		}
	}
}

func TestJobSpecChangeRunsItAgain(t *testing.T) {
	s := jobSim(t, 2, 2, nil)
	s.settle()
	s.finishAll(api.TaskStateComplete)
	s.settle()
	cur := *s.store.Read().Service(s.svcID)
	cur.SpecVersion++
	cur.Spec.TaskTemplate.ForceUpdate++
	s.write(state.Op{Kind: state.OpUpdateService, Service: &cur})
	s.settle()
	live := s.live()
	if len(live) != 2 {
		t.Fatalf("%d tasks run after the spec changed, want the job's 2 again", len(live))
	}
	for _, tk := range live {
		if tk.SpecVersion != cur.SpecVersion {
			t.Errorf("task %s is of spec version %d, want %d", tk.ID, tk.SpecVersion, cur.SpecVersion)
		}
	}
}

func TestGlobalJobRunsOneTaskToCompletionPerNode(t *testing.T) {
	s := newSim(t, 0, nil)
	cur := *s.store.Read().Service(s.svcID)
	cur.Spec.Mode = api.ServiceMode{GlobalJob: &api.GlobalJob{}}
	s.write(state.Op{Kind: state.OpUpdateService, Service: &cur})
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node2", api.AvailabilityActive, api.NodeStateReady, nil)})
	s.settleGlobal()
	if got := liveNodes(s); len(got) != 2 || got["node1"] != 1 || got["node2"] != 1 {
		t.Fatalf("tasks per node %v, want one on each of node1 and node2", got)
	}
	s.finishAll(api.TaskStateComplete)
	s.clock.Advance(time.Hour)
	s.settleGlobal()
	if n := len(s.live()); n != 0 {
		t.Fatalf("%d tasks run after every node completed, want none", n)
	}
	// A node that joins later runs the job too; the others don't again.
	s.write(state.Op{Kind: state.OpUpsertNode, Node: node("node3", api.AvailabilityActive, api.NodeStateReady, nil)})
	s.settleGlobal()
	if got := liveNodes(s); len(got) != 1 || got["node3"] != 1 {
		t.Fatalf("tasks per node %v, want one on node3 only", got)
	}
}
