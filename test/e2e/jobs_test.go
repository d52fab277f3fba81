package e2e

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// A replicated job of real processes runs to its completions: each slot's
// first task fails (exit 1) and is restarted, the second exits 0 and is
// not, and no more tasks follow.
func TestReplicatedJobRunsProcessesToCompletion(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 60*time.Second)
	marks := t.TempDir()
	spec := api.ServiceSpec{Name: "batch",
		Mode: api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: 2, TotalCompletions: 3}},
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{
				Command: []string{"/bin/sh", "-c", `m="$MARKS/$SLOT"; [ -e "$m" ] && exit 0; touch "$m"; exit 1`},
				Env:     []string{"MARKS=" + marks, "SLOT={{.Task.Slot}}"},
			},
			RestartPolicy: &api.RestartPolicy{Delay: api.DurationPtr(0)},
		}}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	completed := func(ts []*api.Task) int {
		n := 0
		for _, tk := range ts {
			if tk.Status.State == api.TaskStateComplete {
				n++
			}
		}
		return n
	}
	waitTasks(t, ctx, c, "batch", "3 completions", func(ts []*api.Task) bool { return completed(ts) == 3 })

	// A last task started past the completions would show by the time
	// another job has run to its end.
	once := processSpec("once", 0, "/bin/true")
	once.Mode = api.ServiceMode{GlobalJob: &api.GlobalJob{}}
	if _, err := c.ServiceCreate(ctx, once); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, "once", "the global job's completion", func(ts []*api.Task) bool { return completed(ts) == 1 })

	ts, err := c.TaskList(ctx, clientFilter("batch"))
	if err != nil {
		t.Fatal(err)
	}
	failed, done := map[uint64]int{}, map[uint64]int{}
	for _, tk := range ts {
		switch tk.Status.State {
		case api.TaskStateFailed:
			failed[tk.Slot]++
		case api.TaskStateComplete:
			done[tk.Slot]++
		default:
			t.Errorf("task %s of slot %d is %s, want every task ended", tk.ID, tk.Slot, tk.Status.State)
		}
	}
	for slot := uint64(1); slot <= 3; slot++ {
		if failed[slot] != 1 || done[slot] != 1 {
			t.Errorf("slot %d: %d failed and %d completed tasks, want 1 and 1\n%s", slot, failed[slot], done[slot], describe(ts))
		}
	}
	if len(ts) != 6 {
		t.Errorf("%d tasks, want 6\n%s", len(ts), describe(ts))
	}
}
