package orchestrator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

// tb is what sim needs of testing.T and rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// sim is a cluster without processes: the orchestrator's passes run for
// real against a store, and the test plays scheduler and agent by moving
// tasks through their states.
type sim struct {
	t     tb
	store *state.Store
	prop  *state.LocalProposer
	clock *clock.Fake
	orch  *Orchestrator
	wakes map[string]time.Time
	svcID string
	node  string
	// skew is how far the agent's clock is from the leader's: its reports
	// carry times that far off.
	skew time.Duration
	// silent are nodes whose agent does not answer: their tasks stay as
	// they are.
	silent map[string]bool
}

func newSim(t tb, replicas uint64, rp *api.RestartPolicy) *sim {
	store := state.NewStore()
	s := &sim{
		t:     t,
		store: store,
		prop:  &state.LocalProposer{Store: store},
		clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		wakes: map[string]time.Time{},
		node:  "node1",
	}
	s.orch = &Orchestrator{Store: store, Proposer: s.prop, Clock: s.clock}
	s.write(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: s.node,
		Spec:        api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityActive},
		Description: api.NodeDescription{Runtimes: []string{api.RuntimeProcess}},
		Status:      api.NodeStatus{State: api.NodeStateReady}}})
	svc := &api.Service{ID: "svc1", SpecVersion: 1, Spec: api.ServiceSpec{
		Name: "web",
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}},
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "60"}},
			RestartPolicy: rp,
		},
	}}
	s.svcID = svc.ID
	s.write(state.Op{Kind: state.OpCreateService, Service: svc})
	return s
}

func (s *sim) write(ops ...state.Op) {
	s.t.Helper()
	res, err := s.prop.Propose(context.Background(), &state.Command{Time: s.clock.Now(), Ops: ops})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range res.OpErrs {
		if e != nil {
			s.t.Fatalf("write: %v", e)
		}
	}
}

func (s *sim) report(t *api.Task, st api.TaskState, msg string) {
	code := 0
	if st == api.TaskStateFailed {
		code = 1
	}
	s.write(state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: t.ID,
		Status: api.TaskStatus{State: st, Timestamp: s.clock.Now().Add(s.skew), Message: msg, ExitCode: &code}}})
}

// settle runs orchestrator passes and plays scheduler and agent until
// nothing changes.
func (s *sim) settle() {
	s.t.Helper()
	for i := 0; i < 100; i++ {
		before := s.store.Index()
		dirty := map[string]bool{s.svcID: true}
		if err := s.orch.pass(context.Background(), dirty, s.wakes); err != nil {
			s.t.Fatal(err)
		}
		for _, t := range s.store.Read().TasksByService(s.svcID) {
			switch {
			case s.silent[t.NodeID]:
			case t.Status.State == api.TaskStatePending && t.DesiredState <= api.TaskStateRunning:
				s.write(state.Op{Kind: state.OpAssignTask, ID: t.ID, NodeID: s.node})
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
	s.t.Fatal("did not settle in 100 rounds")
}

func (s *sim) scale(n uint64) {
	cur := s.store.Read().Service(s.svcID)
	next := *cur
	next.Spec.Mode = api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: n}}
	s.write(state.Op{Kind: state.OpUpdateService, Service: &next})
}

func (s *sim) live() []*api.Task {
	var out []*api.Task
	for _, t := range s.store.Read().TasksByService(s.svcID) {
		if t.Live() {
			out = append(out, t)
		}
	}
	return out
}

// checkConverged asserts exactly one running task in each slot 1..want and
// nothing live beyond, and at most limit ended tasks per slot.
func (s *sim) checkConverged(want uint64) error {
	bySlot := map[uint64]int{}
	ended := map[uint64]int{}
	for _, t := range s.store.Read().TasksByService(s.svcID) {
		if t.Live() {
			if t.Status.State != api.TaskStateRunning {
				return fmt.Errorf("task %s of slot %d is %s, not running", t.ID, t.Slot, t.Status.State)
			}
			bySlot[t.Slot]++
		}
		if t.Status.State.Terminal() {
			ended[t.Slot]++
			if t.DesiredState >= api.TaskStateRemove {
				return fmt.Errorf("removed task %s of slot %d was not reaped", t.ID, t.Slot)
			}
		}
	}
	for slot := uint64(1); slot <= want; slot++ {
		if bySlot[slot] != 1 {
			return fmt.Errorf("slot %d has %d live tasks, want 1", slot, bySlot[slot])
		}
	}
	if len(bySlot) != int(want) {
		return fmt.Errorf("%d slots have live tasks, want %d: %v", len(bySlot), want, bySlot)
	}
	for slot, n := range ended {
		if n > api.DefaultTaskHistoryLimit {
			return fmt.Errorf("slot %d keeps %d ended tasks, want at most %d", slot, n, api.DefaultTaskHistoryLimit)
		}
		if slot > want && n > 0 {
			return fmt.Errorf("slot %d beyond the scale keeps %d ended tasks", slot, n)
		}
	}
	return nil
}

func TestScaleUpAndDownConverges(t *testing.T) {
	s := newSim(t, 3, nil)
	s.settle()
	if err := s.checkConverged(3); err != nil {
		t.Fatal(err)
	}
	s.scale(5)
	s.settle()
	if err := s.checkConverged(5); err != nil {
		t.Fatal(err)
	}
	s.scale(2)
	s.settle()
	if err := s.checkConverged(2); err != nil {
		t.Fatal(err)
	}
}

// A dead task is replaced in its slot after the restart delay, by the
// leader's clock: an agent whose clock is an hour or 30s ahead or behind
// reports the failure with its own time, and the replacement still comes
// 5s later, not an hour later or at once.
func TestDeadTaskReplacedAfterDelayByTheLeadersClock(t *testing.T) {
	for _, skew := range []time.Duration{0, time.Hour, 30 * time.Second, -30 * time.Second, -time.Hour} {
		t.Run("agent clock "+skew.String(), func(t *testing.T) {
			s := newSim(t, 1, &api.RestartPolicy{Delay: api.DurationPtr(5 * time.Second)})
			s.skew = skew
			s.settle()
			old := s.live()[0]
			s.report(old, api.TaskStateFailed, "exited")
			s.settle()
			if n := len(s.live()); n != 0 {
				t.Fatalf("replaced before the restart delay: %d live", n)
			}
			if at := s.wakes[s.svcID]; !at.Equal(s.clock.Now().Add(5 * time.Second)) {
				t.Fatalf("wake at %v, want the leader's now+5s", at)
			}
			s.clock.Advance(5 * time.Second)
			s.settle()
			live := s.live()
			if len(live) != 1 {
				t.Fatalf("%d live tasks after the delay, want 1", len(live))
			}
			if live[0].ID == old.ID || live[0].Slot != old.Slot {
				t.Fatalf("replacement %s slot %d; want a new task in slot %d", live[0].ID, live[0].Slot, old.Slot)
			}
			if got := s.store.Read().Task(old.ID); got == nil || got.DesiredState != api.TaskStateShutdown {
				t.Fatalf("old task should stay as history with desired shutdown, got %+v", got)
			}
		})
	}
}

func TestMaxAttemptsStopsReplacing(t *testing.T) {
	s := newSim(t, 1, &api.RestartPolicy{Delay: api.DurationPtr(0), MaxAttempts: u64(2)})
	s.settle()
	for i := 0; i < 3; i++ {
		live := s.live()
		if len(live) != 1 {
			t.Fatalf("round %d: %d live tasks, want 1", i, len(live))
		}
		s.report(live[0], api.TaskStateFailed, "exited")
		s.settle()
	}
	if n := len(s.live()); n != 0 {
		t.Fatalf("%d live tasks after 1 run and 2 restarts all failed, want 0", n)
	}
	// A spec change resets the counters.
	cur := s.store.Read().Service(s.svcID)
	next := *cur
	next.SpecVersion++
	next.Spec.TaskTemplate.ContainerSpec.Env = []string{"A=1"}
	s.write(state.Op{Kind: state.OpUpdateService, Service: &next})
	s.settle()
	if n := len(s.live()); n != 1 {
		t.Fatalf("%d live tasks after a spec change, want 1", n)
	}
}

func TestConditionNoneLeavesSlotEmpty(t *testing.T) {
	s := newSim(t, 2, &api.RestartPolicy{Condition: api.RestartConditionNone})
	s.settle()
	s.report(s.live()[0], api.TaskStateFailed, "exited")
	s.settle()
	s.clock.Advance(time.Hour)
	s.settle()
	if n := len(s.live()); n != 1 {
		t.Fatalf("%d live tasks, want 1 (no restart)", n)
	}
}

func TestHistoryKeepsFiveEndedTasksPerSlot(t *testing.T) {
	s := newSim(t, 1, &api.RestartPolicy{Delay: api.DurationPtr(0)})
	s.settle()
	for i := 0; i < 12; i++ {
		s.clock.Advance(time.Second)
		s.report(s.live()[0], api.TaskStateFailed, "exited")
		s.settle()
	}
	if err := s.checkConverged(1); err != nil {
		t.Fatal(err)
	}
	if n := len(s.store.Read().TasksByService(s.svcID)); n != 1+api.DefaultTaskHistoryLimit {
		t.Fatalf("%d tasks kept, want 1 live + %d history", n, api.DefaultTaskHistoryLimit)
	}
}

func TestRemovedServiceTasksAreStoppedAndReaped(t *testing.T) {
	s := newSim(t, 3, nil)
	s.settle()
	s.write(state.Op{Kind: state.OpDeleteService, ID: s.svcID})
	s.settle()
	if n := len(s.store.Read().TasksByService(s.svcID)); n != 0 {
		t.Fatalf("%d tasks left after the service was removed", n)
	}
}

func TestDownNodeTasksAreReplacedAtOnce(t *testing.T) {
	s := newSim(t, 2, nil)
	s.settle()
	// A second node joins; the first goes down.
	s.write(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "node2",
		Spec:   api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive},
		Status: api.NodeStatus{State: api.NodeStateReady}}})
	s.write(state.Op{Kind: state.OpNodeStatus, ID: "node1", NodeStatus: &api.NodeStatus{State: api.NodeStateDown}})
	s.node = "node2"
	s.settle()
	live := s.live()
	if len(live) != 2 {
		t.Fatalf("%d live tasks, want 2", len(live))
	}
	for _, t2 := range live {
		if t2.NodeID != "node2" {
			t.Fatalf("task %s still on %s", t2.ID, t2.NodeID)
		}
	}
}

func t0ctx() context.Context { return context.Background() }
