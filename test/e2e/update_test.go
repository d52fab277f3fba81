package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// waitService re-reads the service on every event until cond holds.
func waitService(t *testing.T, ctx context.Context, c *client.Client, ref, what string, cond func(*api.Service, []*api.Task) bool) (*api.Service, []*api.Task) {
	t.Helper()
	var svc *api.Service
	defer func() {
		if t.Failed() && svc != nil {
			t.Logf("service %s: spec version %d, update status %+v", svc.Spec.Name, svc.SpecVersion, svc.UpdateStatus)
			if st := svc.UpdateStatus; st != nil && st.StartedAt != nil {
				t.Logf("update started at %s", st.StartedAt.Format("15:04:05.000000"))
			}
		}
	}()
	tasks := waitTasks(t, ctx, c, ref, what, func(ts []*api.Task) bool {
		s, err := c.ServiceInspect(ctx, ref)
		if err != nil {
			return false
		}
		svc = s
		return cond(s, ts)
	})
	return svc, tasks
}

func updateState(s *api.Service) string {
	if s.UpdateStatus == nil {
		return ""
	}
	return s.UpdateStatus.State
}

func runningOfVersion(ts []*api.Task, v uint64) int {
	n := 0
	for _, t := range running(ts) {
		if t.SpecVersion == v {
			n++
		}
	}
	return n
}

func updatable(name string, replicas uint64, order, action string) api.ServiceSpec {
	spec := processSpec(name, replicas, "sleep", "300")
	spec.TaskTemplate.ContainerSpec.Env = []string{"V=1"}
	spec.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Order: order, FailureAction: action, Monitor: api.Duration(300 * time.Millisecond)}
	spec.RollbackConfig = &api.UpdateConfig{Parallelism: 0, Order: order, Monitor: api.Duration(100 * time.Millisecond)}
	return spec
}

// startService starts a dev cluster running spec, and returns once its
// replicas run.
func startService(t *testing.T, spec api.ServiceSpec) (context.Context, *client.Client, *api.Service, []*api.Task) {
	t.Helper()
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	svc, tasks := createRunning(t, ctx, c, spec)
	return ctx, c, svc, tasks
}

// updateService sends spec as the new spec of the service id.
func updateService(t *testing.T, ctx context.Context, c *client.Client, id string, spec api.ServiceSpec) {
	t.Helper()
	if _, err := c.ServiceUpdate(ctx, id, 0, spec); err != nil {
		t.Fatal(err)
	}
}

// updateCompleted holds once the service's update completed and n tasks,
// all of its current spec version, run.
func updateCompleted(n int) func(*api.Service, []*api.Task) bool {
	return func(s *api.Service, ts []*api.Task) bool {
		return updateState(s) == api.UpdateStateCompleted && runningOfVersion(ts, s.SpecVersion) == n && len(running(ts)) == n
	}
}

func TestStartFirstUpdateNeverDropsCapacity(t *testing.T) {
	spec := updatable("web", 2, api.UpdateOrderStartFirst, api.FailureActionPause)
	ctx, c, svc, _ := startService(t, spec)
	spec.TaskTemplate.ContainerSpec.Env = []string{"V=2"}
	updateService(t, ctx, c, svc.ID, spec)
	minRunning := 2
	final, tasks := waitService(t, ctx, c, "web", "the update to complete", func(s *api.Service, ts []*api.Task) bool {
		n := 0
		for _, tk := range ts {
			if tk.Status.State == api.TaskStateRunning {
				n++
			}
		}
		minRunning = min(minRunning, n)
		return updateCompleted(2)(s, ts)
	})
	if minRunning < 2 {
		t.Errorf("capacity dropped to %d running tasks during a start-first update", minRunning)
	}
	if final.SpecVersion != 2 {
		t.Errorf("spec version %d, want 2", final.SpecVersion)
	}
	for _, tk := range running(tasks) {
		if tk.Spec.ContainerSpec.Env[0] != "V=2" {
			t.Errorf("task %s runs %v", tk.ID, tk.Spec.ContainerSpec.Env)
		}
	}
}

func TestStopFirstUpdateReplacesEveryTask(t *testing.T) {
	spec := updatable("web", 3, api.UpdateOrderStopFirst, api.FailureActionPause)
	ctx, c, svc, before := startService(t, spec)
	spec.TaskTemplate.ContainerSpec.Env = []string{"V=2"}
	updateService(t, ctx, c, svc.ID, spec)
	_, after := waitService(t, ctx, c, "web", "the update to complete", func(s *api.Service, ts []*api.Task) bool {
		return updateState(s) == api.UpdateStateCompleted && runningOfVersion(ts, 2) == 3 && len(running(ts)) == 3
	})
	old := map[string]bool{}
	for _, tk := range before {
		old[tk.ID] = true
	}
	for _, tk := range running(after) {
		if old[tk.ID] {
			t.Errorf("task %s was not replaced", tk.ID)
		}
	}
}

func TestFailingUpdateRollsBackAutomatically(t *testing.T) {
	spec := updatable("web", 2, api.UpdateOrderStartFirst, api.FailureActionRollback)
	ctx, c, svc, _ := startService(t, spec)
	bad := spec
	bad.TaskTemplate.ContainerSpec.Command = []string{"sh", "-c", "exit 3"}
	updateService(t, ctx, c, svc.ID, bad)
	final, tasks := waitService(t, ctx, c, "web", "the rollback to complete", func(s *api.Service, ts []*api.Task) bool {
		return updateState(s) == api.UpdateStateRollbackCompleted && runningOfVersion(ts, s.SpecVersion) == 2 && len(running(ts)) == 2
	})
	if got := final.Spec.TaskTemplate.ContainerSpec.Command; strings.Join(got, " ") != "sleep 300" {
		t.Errorf("after rollback the service runs %v, want its previous spec", got)
	}
	if msg := final.UpdateStatus.Message; !strings.Contains(msg, "update rolled back due to failure or early termination of task") {
		t.Errorf("update status message %q should name the failed task", msg)
	}
	for _, tk := range running(tasks) {
		if strings.Join(tk.Spec.ContainerSpec.Command, " ") != "sleep 300" {
			t.Errorf("running task %s runs %v", tk.ID, tk.Spec.ContainerSpec.Command)
		}
	}
}

func TestUnhealthyUpdatePausesAndNextUpdateResumes(t *testing.T) {
	spec := updatable("web", 2, api.UpdateOrderStartFirst, api.FailureActionPause)
	ctx, c, svc, _ := startService(t, spec)
	sick := spec
	sick.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: api.RestartConditionNone}
	sick.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{Test: []string{"CMD", "false"}, Interval: api.DurationPtr(50 * time.Millisecond), Retries: u64p(1)}
	updateService(t, ctx, c, svc.ID, sick)
	paused, tasks := waitService(t, ctx, c, "web", "the update to pause", func(s *api.Service, ts []*api.Task) bool {
		return updateState(s) == api.UpdateStatePaused
	})
	if !strings.Contains(paused.UpdateStatus.Message, "update paused due to failure") {
		t.Errorf("message %q", paused.UpdateStatus.Message)
	}
	// start-first: the old tasks still serve.
	if n := runningOfVersion(tasks, 1); n != 2 {
		t.Errorf("%d old tasks running while paused, want 2", n)
	}
	// The next update of the service resumes rolling.
	good := spec
	good.TaskTemplate.ContainerSpec.Env = []string{"V=3"}
	updateService(t, ctx, c, svc.ID, good)
	waitService(t, ctx, c, "web", "the new update to complete", updateCompleted(2))
}

func TestForceReplacesTasksWithoutSpecChange(t *testing.T) {
	spec := updatable("web", 2, api.UpdateOrderStopFirst, api.FailureActionPause)
	ctx, c, svc, before := startService(t, spec)
	spec.TaskTemplate.ForceUpdate++
	updateService(t, ctx, c, svc.ID, spec)
	_, after := waitService(t, ctx, c, "web", "forced update done", updateCompleted(2))
	for _, a := range running(after) {
		for _, b := range before {
			if a.ID == b.ID {
				t.Errorf("task %s survived --force", a.ID)
			}
		}
	}
}

func TestRollbackToRevisionFromHistory(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 90*time.Second)
	spec := updatable("web", 1, api.UpdateOrderStopFirst, api.FailureActionPause)
	svc, err := c.ServiceCreate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"V=2", "V=3"} {
		spec.TaskTemplate.ContainerSpec.Env = []string{v}
		// Back to back, as scripts with --detach send them: the second
		// supersedes the first mid-batch, and the rollback below lands
		// while tasks of both are starting or stopping.
		if _, err := c.ServiceUpdate(ctx, svc.ID, 0, spec); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := c.ServiceInspect(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.History) != 3 || cur.History[0].Revision != 1 || cur.History[2].Change != "env" {
		t.Fatalf("history %+v, want 3 revisions with the change named", cur.History)
	}
	if _, err := c.ServiceRollback(ctx, "web", 1); err != nil {
		t.Fatal(err)
	}
	final, _ := waitService(t, ctx, c, "web", "rollback to revision 1", func(s *api.Service, ts []*api.Task) bool {
		return updateState(s) == api.UpdateStateRollbackCompleted && runningOfVersion(ts, s.SpecVersion) == 1 && len(running(ts)) == 1
	})
	if final.Spec.TaskTemplate.ContainerSpec.Env[0] != "V=1" {
		t.Errorf("rolled back to %v, want V=1", final.Spec.TaskTemplate.ContainerSpec.Env)
	}
	if _, err := c.ServiceRollback(ctx, "web", 99); err == nil || !strings.Contains(err.Error(), "no revision 99") {
		t.Errorf("rollback to a missing revision: %v", err)
	}
}
