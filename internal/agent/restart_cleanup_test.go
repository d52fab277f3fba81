//go:build linux

package agent_test

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// TestRestartCleanupDoesNotBlockAssignments: leftovers that ignore their
// stop signal, with a long grace period, are stopped while the restarted
// agent already runs what it is newly assigned. Stopped one after another
// under the agent's lock, they held the new task back by their grace
// periods (30 s each at least), far past the wait below.
func TestRestartCleanupDoesNotBlockAssignments(t *testing.T) {
	e := newEnv(t)
	first := e.startAgent()
	grace := api.Duration(time.Hour)
	// Running only once the trap is set (its health check sees the file
	// made after it): a SIGTERM that came before would end it at once.
	stubborn := cmd("/bin/sh", "-c", `trap "" TERM; touch ready; exec sleep 1000`)
	stubborn.StopGracePeriod = &grace
	stubborn.Healthcheck = &api.HealthCheck{Test: []string{"CMD-SHELL", "test -f ready"}, Interval: api.DurationPtr(50 * time.Millisecond), StartInterval: api.DurationPtr(50 * time.Millisecond)}
	var left []*api.Task
	for i := 0; i < 3; i++ {
		tk := e.assignTask(stubborn)
		e.waitState(tk.ID, api.TaskStateRunning)
		left = append(left, tk)
	}
	first.stop()
	// While no agent runs, the managers want two of them stopped and
	// forget the third.
	e.shutdown(left[0].ID)
	e.shutdown(left[1].ID)
	e.must(state.Op{Kind: state.OpDeleteTask, ID: left[2].ID})

	e.startAgent()
	fresh := e.assignTask(cmd("sleep", "1000"))
	e.waitState(fresh.ID, api.TaskStateRunning)

	// Still within their grace period, the leftovers are neither reported
	// stopped nor started again: each runs as one process.
	for _, tk := range left {
		if ps := processesOf(t, tk.ID); len(ps) > 2 {
			t.Errorf("task %s runs as %v: started again", tk.ID, ps)
		}
	}
	for _, tk := range left[:2] {
		if got := e.store.Read().Task(tk.ID); got.Status.State.Terminal() {
			t.Errorf("task %s reported %s while it still runs", tk.ID, got.Status.State)
		}
	}
}
