package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

func TestKilledProcessIsReplacedByANewTaskInItsSlot(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 60*time.Second)
	spec := processSpec("web", 3, "sleep", "300")
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Delay: api.DurationPtr(0)}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "web", "3 running", nRunning(3))
	victim := running(tasks)[0]
	if err := syscall.Kill(pidOf(t, victim), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tasks = waitTasks(t, ctx, c, "web", "the replacement", func(ts []*api.Task) bool {
		if !nRunning(3)(ts) {
			return false
		}
		for _, tk := range running(ts) {
			if tk.ID == victim.ID {
				return false
			}
		}
		return true
	})
	var old, repl *api.Task
	for _, tk := range tasks {
		switch {
		case tk.ID == victim.ID:
			old = tk
		case tk.Slot == victim.Slot && tk.Live():
			repl = tk
		}
	}
	if repl == nil {
		t.Fatalf("no new task in slot %d:\n%s", victim.Slot, describe(tasks))
	}
	if old == nil {
		t.Fatal("the killed task was not kept as history")
	}
	if old.Status.State != api.TaskStateFailed || old.Status.ExitCode == nil || *old.Status.ExitCode != 137 {
		t.Errorf("killed task: state %s exit %v, want failed with exit code 137", old.Status.State, old.Status.ExitCode)
	}
	if old.DesiredState != api.TaskStateShutdown {
		t.Errorf("killed task desired %s, want shutdown", old.DesiredState)
	}
	// Every transition was recorded, in order, with its time.
	var states []api.TaskState
	for _, h := range repl.History {
		if h.Timestamp.IsZero() {
			t.Errorf("transition to %s has no time", h.State)
		}
		states = append(states, h.State)
	}
	want := []api.TaskState{api.TaskStateNew, api.TaskStatePending, api.TaskStateAssigned, api.TaskStateAccepted, api.TaskStatePreparing, api.TaskStateStarting, api.TaskStateRunning}
	if len(states) != len(want) {
		t.Fatalf("history %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("history %v, want %v", states, want)
		}
	}
}

func TestExitCodeDecidesOnFailureRestart(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 60*time.Second)
	rp := &api.RestartPolicy{Condition: api.RestartConditionOnFailure, Delay: api.DurationPtr(0)}
	ok := processSpec("ok", 1, "true")
	ok.TaskTemplate.RestartPolicy = rp
	if _, err := c.ServiceCreate(ctx, ok); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "ok", "the task to complete", func(ts []*api.Task) bool {
		return len(ts) == 1 && ts[0].Status.State == api.TaskStateComplete
	})
	if code := tasks[0].Status.ExitCode; code == nil || *code != 0 {
		t.Fatalf("exit code %v, want 0", code)
	}

	bad := processSpec("bad", 1, "sh", "-c", "exit 3")
	max := uint64(2)
	bad.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: api.RestartConditionOnFailure, Delay: api.DurationPtr(0), MaxAttempts: &max}
	if _, err := c.ServiceCreate(ctx, bad); err != nil {
		t.Fatal(err)
	}
	tasks = waitTasks(t, ctx, c, "bad", "1 run and 2 restarts, all failed", func(ts []*api.Task) bool {
		failed := 0
		for _, tk := range ts {
			if tk.Status.State == api.TaskStateFailed {
				failed++
			}
		}
		return failed == 3 && len(live(ts)) == 0
	})
	for _, tk := range tasks {
		if tk.Status.ExitCode == nil || *tk.Status.ExitCode != 3 {
			t.Errorf("task %s exit code %v, want 3", tk.ID, tk.Status.ExitCode)
		}
		if tk.Status.Err != "task: non-zero exit (3)" {
			t.Errorf("task %s error %q", tk.ID, tk.Status.Err)
		}
	}
	// The ok service was never restarted.
	if ts, _ := c.TaskList(ctx, clientFilter("ok")); len(ts) != 1 {
		t.Fatalf("ok service has %d tasks, want 1 (complete, not restarted)", len(ts))
	}
}

func TestScaleDownStopsHighestSlotsGracefully(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	marks := t.TempDir()
	// Each task writes a file named after its slot when it gets SIGTERM.
	script := `trap 'touch "$MARKS/$SHOAL_TASK_SLOT"; exit 0' TERM; while :; do sleep 0.1; done`
	spec := processSpec("web", 4, "sh", "-c", script)
	spec.TaskTemplate.ContainerSpec.Env = []string{"MARKS=" + marks}
	svc, err := c.ServiceCreate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, "web", "4 running", nRunning(4))
	spec.Mode = replicated(2)
	if _, err := c.ServiceUpdate(ctx, svc.ID, 0, spec); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "web", "2 tasks left", func(ts []*api.Task) bool { return len(ts) == 2 && nRunning(2)(ts) })
	for _, tk := range tasks {
		if tk.Slot > 2 {
			t.Errorf("slot %d kept; scale down removes the highest slots", tk.Slot)
		}
	}
	for _, slot := range []string{"3", "4"} {
		if _, err := os.Stat(filepath.Join(marks, slot)); err != nil {
			t.Errorf("slot %s was not sent SIGTERM: %v", slot, err)
		}
	}
	for _, slot := range []string{"1", "2"} {
		if _, err := os.Stat(filepath.Join(marks, slot)); err == nil {
			t.Errorf("slot %s was stopped but is still wanted", slot)
		}
	}
}

func TestStopGracePeriodEndsWithSIGKILL(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 60*time.Second)
	spec := processSpec("stubborn", 1, "sh", "-c", `trap '' TERM; while :; do sleep 0.1; done`)
	spec.TaskTemplate.ContainerSpec.StopGracePeriod = api.DurationPtr(500 * time.Millisecond)
	svc, err := c.ServiceCreate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "stubborn", "running", nRunning(1))
	pid := pidOf(t, tasks[0])
	spec.Mode = replicated(0)
	if _, err := c.ServiceUpdate(ctx, svc.ID, 0, spec); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, "stubborn", "the task gone", func(ts []*api.Task) bool { return len(ts) == 0 })
	if alive(pid) {
		t.Fatalf("process %d ignored SIGTERM and still runs after the grace period", pid)
	}
}
