//go:build linux

package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// staleWhileAway plays the managers while the node was away: its tasks
// were replaced elsewhere, so one is only shut down (the node came back
// within the orphan period), one was orphaned (it stayed down longer),
// and one was reaped since.
func (e *env) staleWhileAway(shut, orphaned, reaped *api.Task) {
	e.t.Helper()
	e.shutdown(shut.ID)
	e.shutdown(orphaned.ID)
	e.must(state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: orphaned.ID,
		Status: api.TaskStatus{State: api.TaskStateOrphaned, Message: "node down since then"}}})
	e.must(state.Op{Kind: state.OpDeleteTask, ID: reaped.ID})
}

// waitGone waits until no process runs task id.
func (e *env) waitGone(id string) {
	e.t.Helper()
	deadline := time.Now().Add(testTimeout)
	for len(processesOf(e.t, id)) > 0 {
		if time.Now().After(deadline) {
			e.t.Fatalf("task %s still runs as %v: a stale task of a node that came back", id, processesOf(e.t, id))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkStale asserts the stale tasks as the managers hold them once the
// agent has settled: none reported running again.
func (e *env) checkStale(shut, orphaned, reaped *api.Task) {
	e.t.Helper()
	e.waitTask(shut.ID, "shut down", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got := e.store.Read().Task(shut.ID); got.Status.State != api.TaskStateShutdown {
		e.t.Errorf("the task shut down while away: %s, want shutdown", got.Status.State)
	}
	if got := e.store.Read().Task(orphaned.ID); got.Status.State != api.TaskStateOrphaned {
		e.t.Errorf("the orphaned task: %s (%s), want orphaned", got.Status.State, got.Status.Message)
	}
	if e.store.Read().Task(reaped.ID) != nil {
		e.t.Error("the reaped task came back")
	}
}

// A node cut off from the managers (its agent still running) comes back
// after its tasks were replaced: it stops all three stale tasks.
func TestNodeBackStopsItsStaleTasks(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	var ts []*api.Task
	for i := 0; i < 3; i++ {
		tk := e.assignTask(cmd("sleep", "1000"))
		e.waitState(tk.ID, api.TaskStateRunning)
		ts = append(ts, tk)
	}
	e.stopDispatcher() // the node is cut off; its tasks run on
	e.staleWhileAway(ts[0], ts[1], ts[2])
	after := e.store.Index()
	e.stopDispatcher = e.d.Start(context.Background())
	e.waitRegistered(after)
	for _, tk := range ts {
		e.waitGone(tk.ID)
	}
	e.checkStale(ts[0], ts[1], ts[2])
}

// The same with the agent restarted while away: what survived it and the
// managers no longer want running is stopped, orphaned tasks included.
func TestRestartedNodeStopsItsStaleTasks(t *testing.T) {
	e := newEnv(t)
	first := e.startAgent()
	var ts []*api.Task
	for i := 0; i < 3; i++ {
		tk := e.assignTask(cmd("sleep", "1000"))
		e.waitState(tk.ID, api.TaskStateRunning)
		ts = append(ts, tk)
	}
	first.stop()
	e.staleWhileAway(ts[0], ts[1], ts[2])
	e.startAgent()
	for _, tk := range ts {
		e.waitGone(tk.ID)
	}
	e.checkStale(ts[0], ts[1], ts[2])
}
