package dispatcher_test

import (
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// The dispatcher tells how long a task took from assigned to running, once,
// when the running report is applied, and the gaps between a node's beats.
func TestObserveTaskStartAndHeartbeats(t *testing.T) {
	e := newEnv(t, time.Hour)
	var mu sync.Mutex
	var starts []string
	var gaps []time.Duration
	e.d.ObserveTaskStart = func(runtime string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if d < 0 {
			t.Errorf("negative start latency %v", d)
		}
		starts = append(starts, runtime)
	}
	e.d.ObserveHeartbeat = func(gap time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		gaps = append(gaps, gap)
	}
	e.must(createTask(newTask("t1", "n1")), assign("t1", "n1"), createTask(newTask("t2", "n1")), assign("t2", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	rep := func(id string, st api.TaskState) api.TaskReport {
		return api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st}}
	}
	// t1 goes through starting to running in one batch, t2 only starts.
	if err := s.Report(testCtx(t), []api.TaskReport{rep("t1", api.TaskStateStarting), rep("t1", api.TaskStateRunning), rep("t2", api.TaskStateStarting)}); err != nil {
		t.Fatal(err)
	}
	// A repeated running report is dropped as unchanged: not a second start.
	if err := s.Report(testCtx(t), []api.TaskReport{rep("t1", api.TaskStateRunning), rep("t2", api.TaskStateRunning)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Heartbeat(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) != 2 || starts[0] != api.RuntimeProcess {
		t.Errorf("starts observed %v, want two of %s", starts, api.RuntimeProcess)
	}
	if len(gaps) != 2 {
		t.Errorf("heartbeat gaps %v, want 2", gaps)
	}
}

// Reports on one task in one batch are each checked against the task as
// the reports before them leave it: a report that goes back is dropped,
// whichever other tasks the batch names in between.
func TestReportsOnOneTaskInOneBatch(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.must(createTask(newTask("t1", "n1")), assign("t1", "n1"), createTask(newTask("t2", "n1")), assign("t2", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	rep := func(id string, st api.TaskState) api.TaskReport {
		return api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st}}
	}
	batch := []api.TaskReport{rep("t1", api.TaskStateRunning), rep("t2", api.TaskStateStarting), rep("t1", api.TaskStateStarting), rep("t2", api.TaskStateRunning)}
	if err := s.Report(testCtx(t), batch); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2"} {
		tk := e.task(id)
		if tk.Status.State != api.TaskStateRunning {
			t.Errorf("%s is %s, want running", id, tk.Status.State)
		}
		for _, h := range tk.History {
			if id == "t1" && h.State == api.TaskStateStarting {
				t.Errorf("t1's starting report, after its running one, was applied: %v", tk.History)
			}
		}
	}
	if batch[0].TaskID != "t1" || batch[2].Status.State != api.TaskStateStarting {
		t.Errorf("the caller's batch changed: %+v", batch)
	}
}
