package scheduler

import (
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// TestViewKeepsAGoneNodesStoppingTask: a node leaves the store while it
// holds a running task and one told to stop (not counted in its totals,
// still holding its reservation); the running one is deleted, the node
// comes back. The view still counts the stopping task's reservation, as
// a full scan does.
func TestViewKeepsAGoneNodesStoppingTask(t *testing.T) {
	stopping := mkTask("a", 1, reserveCPUs(1), runningOn("n1"))
	stopping.DesiredState = api.TaskStateShutdown
	c := newCluster(t, []*api.Node{mkNode("n1")}, []*api.Task{mkTask("b", 1, runningOn("n1")), stopping})
	tx, sub := c.store.Subscribe()
	defer sub.Close()
	v := newView(tx)
	c.apply(state.Op{Kind: state.OpDeleteNode, ID: "n1"})
	c.apply(state.Op{Kind: state.OpDeleteTask, ID: "b-1"})
	c.apply(state.Op{Kind: state.OpUpsertNode, Node: mkNode("n1")})
	evs, err := sub.Drain()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		v.apply(ev)
	}
	got, want := v.at(t0)["n1"], nodeInfosAt(c.store.Read(), t0)["n1"]
	if got == nil || got.free != want.free {
		t.Fatalf("view n1 %+v, full scan free %+v", got, want.free)
	}
}
