package updater

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// After a start-first update fails and rolls back, its failed task does
// not keep desired state running next to the live task of its slot: it
// has ended and will not run again.
func TestFailedUpdateTaskIsShutDownAfterRollback(t *testing.T) {
	for _, order := range []string{api.UpdateOrderStartFirst, api.UpdateOrderStopFirst} {
		t.Run(order, func(t *testing.T) {
			o := opts{replicas: 2, update: &api.UpdateConfig{Parallelism: 1, Order: order, FailureAction: api.FailureActionRollback}}
			sim(t, o, func(t *testing.T, c *cluster) {
				v := c.image("v2")
				c.badVersion(v, crash)
				c.runUntil("the rollback's end", 5*time.Minute, c.ended)
				if st := c.updateState(); st != api.UpdateStateRollbackCompleted {
					t.Fatalf("update %s, want rollback_completed", st)
				}
				c.runFor(time.Minute)
				if n := c.countRunning(v + 1); n != 2 {
					t.Fatalf("%d tasks run the rolled-back spec, want 2\n%s", n, c.dump())
				}
				for _, tk := range c.tasks() {
					if tk.Status.State.Terminal() && tk.DesiredState == api.TaskStateRunning {
						t.Fatalf("ended task %s of %s (v%d, %s) still has desired state running\n%s", tk.ID, key(tk), tk.SpecVersion, tk.Status.State, c.dump())
					}
				}
			})
		})
	}
}

// A task of the update that exits 0 before its monitor window ends is a
// failure of the update, also once the orchestrator has shut it down
// because its restart condition (none, on-failure) will not restart it.
func TestEarlyCleanExitFailsTheUpdateWhenNotRestarted(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	svc := &api.Service{ID: "s1", SpecVersion: 2, Spec: api.ServiceSpec{Name: "web",
		Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}},
		TaskTemplate: api.TaskSpec{RestartPolicy: &api.RestartPolicy{Condition: api.RestartConditionNone}}},
		UpdateStatus: &api.UpdateStatus{State: api.UpdateStateUpdating, StartedAt: &t0, Message: "update in progress"}}
	done := &api.Task{ID: "new1", ServiceID: "s1", Slot: 1, SpecVersion: 2, DesiredState: api.TaskStateShutdown,
		Status:  api.TaskStatus{State: api.TaskStateComplete, Timestamp: t0.Add(time.Second)},
		History: []api.TaskStatus{{State: api.TaskStateRunning, Timestamp: t0.Add(500 * time.Millisecond)}}}
	done.CreatedAt = t0
	old := &api.Task{ID: "old2", ServiceID: "s1", Slot: 2, SpecVersion: 1, DesiredState: api.TaskStateRunning,
		Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: t0.Add(-time.Hour)}}
	never := func(string) api.SlotNode { return api.SlotNode{} }
	p := decide(svc, []*api.Task{done, old}, never, t0.Add(2*time.Second))
	if p.service == nil || p.service.UpdateStatus.State != api.UpdateStatePaused {
		t.Fatalf("update after a task of it exited within the monitor: %+v, want paused", p.service)
	}
}
