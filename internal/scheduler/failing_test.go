package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// failedTasksOn makes n tasks of serviceID that failed on node at when.
func failedTasksOn(serviceID, node string, n int, when time.Time) []*api.Task {
	var out []*api.Task
	for i := 0; i < n; i++ {
		tk := mkTask(serviceID, uint64(100+i))
		tk.ID = fmt.Sprintf("%s-failed-%s-%d", serviceID, node, i)
		tk.NodeID = node
		tk.DesiredState = api.TaskStateShutdown
		tk.Status = api.TaskStatus{State: api.TaskStateFailed, Timestamp: when}
		out = append(out, tk)
	}
	return out
}

// runningTasksOn makes n running tasks of serviceID on node.
func runningTasksOn(serviceID, node string, n int) []*api.Task {
	var out []*api.Task
	for i := 0; i < n; i++ {
		tk := mkTask(serviceID, uint64(200+i))
		tk.ID = fmt.Sprintf("%s-running-%s-%d", serviceID, node, i)
		tk.NodeID = node
		tk.Status = api.TaskStatus{State: api.TaskStateRunning, Timestamp: t0}
		out = append(out, tk)
	}
	return out
}

func TestNodeWhereServiceKeepsFailingIsTriedLast(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name     string
		failures int
		at       time.Time
		want     string
	}{
		// n2 already runs two tasks of the service, so spreading alone
		// would pick n1.
		{"five recent failures move the task away", 5, now.Add(-time.Minute), "n2"},
		{"four failures are not enough", 4, now.Add(-time.Minute), "n1"},
		{"failures older than five minutes do not count", 5, now.Add(-6 * time.Minute), "n1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tasks := append(failedTasksOn("svc", "n1", tc.failures, tc.at), runningTasksOn("svc", "n2", 2)...)
			pending := mkTask("svc", 1)
			tasks = append(tasks, pending)
			c := newCluster(t, []*api.Node{mkNode("n1"), mkNode("n2")}, tasks)
			tx := c.store.Read()
			ops := Place(pendingTasks(tx), nodeInfosAt(tx, now))
			if len(ops) != 1 || ops[0].NodeID != tc.want {
				t.Fatalf("ops %+v, want the task on %s", ops, tc.want)
			}
		})
	}
}

func TestFailingNodeIsStillUsedWhenItIsTheOnlyOne(t *testing.T) {
	now := time.Now()
	tasks := append(failedTasksOn("svc", "n1", 7, now), mkTask("svc", 1))
	c := newCluster(t, []*api.Node{mkNode("n1")}, tasks)
	tx := c.store.Read()
	ops := Place(pendingTasks(tx), nodeInfosAt(tx, now))
	if len(ops) != 1 || ops[0].NodeID != "n1" {
		t.Fatalf("ops %+v: a failing node is tried last, not never", ops)
	}
}

// The failure window runs on the leader's clock: failures reported by an
// agent whose clock is an hour (or 30s) ahead or behind count as the
// recent failures they are, since the store dates them when it applies
// them.
func TestFailureWindowRunsOnTheLeadersClockWhateverTheAgents(t *testing.T) {
	for _, skew := range []time.Duration{time.Hour, 30 * time.Second, -30 * time.Second, -time.Hour} {
		t.Run("agent clock "+skew.String(), func(t *testing.T) {
			doomed := runningTasksOn("svc", "n1", 5)
			tasks := append(append(doomed, runningTasksOn("svc", "n2", 2)...), mkTask("svc", 1))
			for i, tk := range doomed {
				tk.ID = fmt.Sprintf("doomed-%d", i)
			}
			c := newCluster(t, []*api.Node{mkNode("n1"), mkNode("n2")}, tasks)
			var ops []state.Op
			for _, tk := range doomed {
				ops = append(ops, state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: tk.ID,
					Status: api.TaskStatus{State: api.TaskStateFailed, Timestamp: t0.Add(skew)}}})
			}
			c.apply(ops...) // at t0 by the leader's clock
			tx := c.store.Read()
			ops = Place(pendingTasks(tx), nodeInfosAt(tx, t0.Add(time.Minute)))
			if len(ops) != 1 || ops[0].NodeID != "n2" {
				t.Fatalf("ops %+v, want the task on n2: n1 had 5 failures a minute ago by the leader's clock", ops)
			}
		})
	}
}
