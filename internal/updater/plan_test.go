package updater

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// A deploy or rollback can land while a stop-first batch of the update it
// supersedes has stopped a slot's task and the orchestrator has not yet
// made the replacement. That slot is in flight: completing there would let
// the orchestrator's next task (or one it made from a read taken before
// the rollback) be taken for the start of a new, ordinary update.
func TestEmptiedSlotOfASupersededUpdateIsInFlight(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rolledBackAt := t0.Add(10 * time.Second)
	svc := &api.Service{ID: "s1", SpecVersion: 4, Spec: api.ServiceSpec{Name: "web",
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}}},
		UpdateStatus: &api.UpdateStatus{State: api.UpdateStateRollbackStarted, StartedAt: &rolledBackAt, Message: "manually requested rollback"}}
	// Slot 1's version-2 task, stopped by the update to version 3 a moment
	// before the rollback to version 4 (revision 1's spec) was sent.
	stopped := &api.Task{ID: "t2", ServiceID: "s1", Slot: 1, SpecVersion: 2, DesiredState: api.TaskStateShutdown,
		Status: api.TaskStatus{State: api.TaskStateComplete, Timestamp: rolledBackAt.Add(-time.Second)}}
	stopped.CreatedAt = t0
	never := func(string) api.SlotNode { return api.SlotNode{} }

	p := decide(svc, []*api.Task{stopped}, never, rolledBackAt.Add(time.Millisecond))
	if p.service != nil {
		t.Fatalf("rollback ended as %q while slot 1 waits for its task", p.service.UpdateStatus.State)
	}

	// The orchestrator refills the slot from the current spec; once that
	// task has run for the monitor window the rollback completes, as one.
	refill := &api.Task{ID: "t4", ServiceID: "s1", Slot: 1, SpecVersion: 4, DesiredState: api.TaskStateRunning,
		Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: rolledBackAt.Add(time.Second)}}
	refill.CreatedAt = rolledBackAt.Add(10 * time.Millisecond)
	tasks := []*api.Task{stopped, refill}
	if p := decide(svc, tasks, never, rolledBackAt.Add(2*time.Second)); p.service != nil {
		t.Fatalf("rollback ended as %q inside the monitor window", p.service.UpdateStatus.State)
	}
	p = decide(svc, tasks, never, rolledBackAt.Add(time.Minute))
	if p.service == nil || p.service.UpdateStatus.State != api.UpdateStateRollbackCompleted {
		t.Fatalf("after the monitor window: %+v, want rollback_completed", p.service)
	}

	// A global service's node whose task stopped for another reason (the
	// node no longer fits) is not waited for.
	global := *svc
	global.Spec.Mode = api.ServiceMode{Global: &api.GlobalService{}}
	gone := *stopped
	gone.Slot, gone.NodeID = 0, "n1"
	if p := decide(&global, []*api.Task{&gone}, never, rolledBackAt.Add(time.Millisecond)); p.service == nil ||
		p.service.UpdateStatus.State != api.UpdateStateRollbackCompleted {
		t.Fatalf("global service with a node's task stopped before the rollback: %+v, want rollback_completed", p.service)
	}
}

// A slot whose outdated task died waits for the restart policy, which
// replaces it on the new spec: the update or rollback watches that task
// before it completes, unless the policy does not restart the task.
func TestDeadOutdatedSlotWaitsForItsRestart(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rolledBackAt := t0.Add(10 * time.Second)
	svc := &api.Service{ID: "s1", SpecVersion: 6, Spec: api.ServiceSpec{Name: "web",
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}}},
		UpdateStatus: &api.UpdateStatus{State: api.UpdateStateRollbackStarted, StartedAt: &rolledBackAt, Message: "manually requested rollback"}}
	// The paused update's task failed and waits out its restart delay.
	failed := &api.Task{ID: "t5", ServiceID: "s1", Slot: 1, SpecVersion: 5, DesiredState: api.TaskStateRunning,
		Status: api.TaskStatus{State: api.TaskStateFailed, Timestamp: rolledBackAt.Add(-time.Second)}}
	failed.CreatedAt = t0
	never := func(string) api.SlotNode { return api.SlotNode{} }

	if p := decide(svc, []*api.Task{failed}, never, rolledBackAt); p.service != nil {
		t.Fatalf("rollback ended as %q while slot 1 waits for its restart", p.service.UpdateStatus.State)
	}
	for _, cond := range []string{api.RestartConditionNone, api.RestartConditionOnFailure} {
		s := *svc
		s.Spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: cond}
		done := *failed
		done.Status.State = api.TaskStateComplete
		if p := decide(&s, []*api.Task{&done}, never, rolledBackAt); p.service == nil || p.service.UpdateStatus.State != api.UpdateStateRollbackCompleted {
			t.Errorf("restart condition %s, task completed: %+v, want rollback_completed (nothing restarts the slot)", cond, p.service)
		}
	}
}

// max_failure_ratio divides the failures by the slots this update had to
// change, as Swarm's does by the tasks it updates: slots that already ran
// the new spec (moved to the new version by the store) are not in it.
func TestMaxFailureRatioDividesByChangedSlots(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	started := t0.Add(time.Minute)
	svc := &api.Service{ID: "s1", SpecVersion: 2, Spec: api.ServiceSpec{Name: "web",
		Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 4}},
		UpdateConfig: &api.UpdateConfig{Parallelism: 1, MaxFailureRatio: 0.4}},
		UpdateStatus: &api.UpdateStatus{State: api.UpdateStateUpdating, StartedAt: &started}}
	task := func(id string, slot, version uint64, st api.TaskState, created time.Time) *api.Task {
		tk := &api.Task{ID: id, ServiceID: "s1", Slot: slot, SpecVersion: version, DesiredState: api.TaskStateRunning,
			Status: api.TaskStatus{State: st, Timestamp: created.Add(time.Second)}}
		tk.CreatedAt = created
		return tk
	}
	tasks := []*api.Task{
		// Slots 1 and 2 already ran spec 2 before the update: unchanged.
		task("a", 1, 2, api.TaskStateRunning, t0),
		task("b", 2, 2, api.TaskStateRunning, t0),
		// Slot 3: the update's task failed before running.
		task("c", 3, 2, api.TaskStateFailed, started.Add(time.Second)),
		// Slot 4: still to update.
		task("d", 4, 1, api.TaskStateRunning, t0),
	}
	p := decide(svc, tasks, func(string) api.SlotNode { return api.SlotNode{} }, started.Add(10*time.Second))
	// 1 failure of 2 changed slots is 0.5 > 0.4 (of all 4 slots it would be
	// 0.25, within the ratio).
	if p.service == nil || p.service.UpdateStatus.State != api.UpdateStatePaused {
		t.Fatalf("update not paused by 1 failure in 2 changed slots at max_failure_ratio 0.4 (plan %+v)", p)
	}
}

// A slot emptied by a drain is refilled elsewhere whatever the restart
// condition (the orchestrator's rule), so the update waits for that task
// rather than completing with the slot empty; the same task lost with its
// node under condition none is not replaced, and not waited for.
func TestDrainedSlotIsInFlightWhateverTheRestartCondition(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	svc := &api.Service{ID: "s1", SpecVersion: 2, Spec: api.ServiceSpec{Name: "web",
		Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
		TaskTemplate: api.TaskSpec{RestartPolicy: &api.RestartPolicy{Condition: api.RestartConditionNone}}},
		UpdateStatus: &api.UpdateStatus{State: api.UpdateStateUpdating, StartedAt: &t0, StartedIndex: 10, Message: "update in progress"}}
	// The slot's task of the current spec, made before this update, told
	// to stop because its node was drained.
	moved := &api.Task{ID: "t1", ServiceID: "s1", Slot: 1, SpecVersion: 2, NodeID: "n1", CreatedIndex: 5,
		DesiredState: api.TaskStateShutdown,
		Status:       api.TaskStatus{State: api.TaskStateShutdown, Timestamp: t0.Add(time.Second)}}
	moved.CreatedAt = t0.Add(-time.Minute)

	drained := func(string) api.SlotNode { return api.SlotNode{Drained: true} }
	if p := decide(svc, []*api.Task{moved}, drained, t0.Add(time.Minute)); p.service != nil {
		t.Fatalf("update ended as %q while its drained slot waits for its new task", p.service.UpdateStatus.State)
	}
	if got := api.VacancyOf(svc, moved, api.SlotNode{Drained: true}); got != api.VacancyStopped {
		t.Errorf("vacancy of a drained slot = %v, want stopped (refilled whatever the condition)", got)
	}
	down := func(string) api.SlotNode { return api.SlotNode{Down: true, Drained: true} }
	if got := api.VacancyOf(svc, moved, down(moved.NodeID)); got != api.VacancyLost {
		t.Errorf("vacancy of a slot lost with its drained node = %v, want lost", got)
	}
	if p := decide(svc, []*api.Task{moved}, down, t0.Add(time.Minute)); p.service == nil || p.service.UpdateStatus.State != api.UpdateStateCompleted {
		t.Fatalf("update with its only slot lost under condition none: %+v, want completed", p.service)
	}
}
