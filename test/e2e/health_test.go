package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

func u64p(v uint64) *uint64 { return &v }

// A task with a health check is running only once healthy; retries failed
// checks in a row stop it, mark it failed with the check's output, and a new
// task replaces it.
func TestHealthCheckGatesRunningAndReplacesUnhealthy(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	dir := t.TempDir()
	healthy := filepath.Join(dir, "healthy")
	spec := processSpec("hc", 1, "sleep", "300")
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Delay: api.DurationPtr(0)}
	spec.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{
		Test:     []string{"CMD-SHELL", "test -f " + healthy + " || { echo not ready; exit 1; }"},
		Interval: api.DurationPtr(50 * time.Millisecond),
		Timeout:  api.DurationPtr(5 * time.Second),
		Retries:  u64p(2),
	}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	// Without the file the check fails: the task starts but never runs.
	tasks := waitTasks(t, ctx, c, "hc", "a started task waiting for health", func(ts []*api.Task) bool {
		for _, tk := range ts {
			if tk.Status.State == api.TaskStateStarting && tk.Status.Health == api.HealthStarting && tk.Status.RuntimeID != "" {
				return true
			}
		}
		return false
	})
	if len(running(tasks)) != 0 {
		t.Fatal("a task runs before its health check passed")
	}
	// Failing past retries (no start period) fails the task with the
	// check's output, and it is replaced.
	tasks = waitTasks(t, ctx, c, "hc", "an unhealthy task failed", func(ts []*api.Task) bool {
		for _, tk := range ts {
			if tk.Status.State == api.TaskStateFailed {
				return true
			}
		}
		return false
	})
	for _, tk := range tasks {
		if tk.Status.State == api.TaskStateFailed && !strings.Contains(tk.Status.Err, "not ready") {
			t.Errorf("failed task's error %q does not carry the check's output", tk.Status.Err)
		}
	}
	if err := os.WriteFile(healthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tasks = waitTasks(t, ctx, c, "hc", "a healthy running task", nRunning(1))
	if h := running(tasks)[0].Status.Health; h != api.HealthHealthy {
		t.Fatalf("running task health %q, want healthy", h)
	}
}

// Failures during the start period do not count; a success in it marks the
// task healthy at once.
func TestHealthStartPeriodForgivesFailures(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	dir := t.TempDir()
	healthy := filepath.Join(dir, "healthy")
	spec := processSpec("slow", 1, "sleep", "300")
	spec.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{
		Test:          []string{"CMD", "test", "-f", healthy},
		Interval:      api.DurationPtr(50 * time.Millisecond),
		StartInterval: api.DurationPtr(50 * time.Millisecond),
		StartPeriod:   api.DurationPtr(time.Hour),
		Retries:       u64p(1),
	}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, "slow", "the task checking health", func(ts []*api.Task) bool {
		return len(ts) == 1 && ts[0].Status.Health == api.HealthStarting
	})
	// Many failed checks later it is still the same, starting task.
	first, err := c.TaskList(ctx, clientFilter("slow"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(healthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "slow", "healthy", nRunning(1))
	if tasks[0].ID != first[0].ID {
		t.Fatalf("the task was replaced during its start period")
	}
}
