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
