package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
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
