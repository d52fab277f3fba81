package dispatcher_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// A session follows only its node's tasks: a commit that touches other
// nodes queues nothing for it, and the store publishes to it through the
// node's subscriptions, not to every session.
func TestSessionGetsOnlyItsNodesChanges(t *testing.T) {
	e := newEnv(t, 0)
	e.start()
	whole := e.store.Subscribers()
	s1 := e.register("n1", "10.0.0.1")
	e.register("n2", "10.0.0.2")
	// Each session holds one subscription, of its node's changes; none
	// takes every commit of the cluster.
	n1, n2 := e.store.NodeSubscribers("n1"), e.store.NodeSubscribers("n2")
	if n1 != 1 || n2 != 1 || e.store.Subscribers()-n1-n2 != whole {
		t.Fatalf("after two sessions: %d subscriptions of n1, %d of n2, %d others (want 1, 1, %d)",
			n1, n2, e.store.Subscribers()-n1-n2, whole)
	}
	if a, err := s1.Assignments(testCtx(t)); err != nil || !a.Full {
		t.Fatalf("first assignment %+v %v", a, err)
	}
	e.must(createTask(newTask("t2", "n2")), assign("t2", "n2"))
	e.must(createTask(newTask("t1", "n1")), assign("t1", "n1"))
	a, err := s1.Assignments(testCtx(t))
	if err != nil || a.Full || len(a.Tasks) != 1 || a.Tasks[0].ID != "t1" {
		t.Fatalf("n1's assignment %+v %v, want t1 only", a, err)
	}
}

// A session that falls too far behind is resynced, not grown without
// bound or cut off: its next assignment is the full set.
func TestSlowSessionIsResyncedWithTheFullSet(t *testing.T) {
	e := newEnv(t, time.Minute)
	e.d.SessionQueue = 100
	e.start()
	s := e.register("n1", "10.0.0.1")
	if _, err := s.Assignments(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	const n = 101 // past the session's queue
	ops := make([]state.Op, 0, 2*n)
	for i := range n {
		id := fmt.Sprintf("t%05d", i)
		ops = append(ops, createTask(newTask(id, "n1")), assign(id, "n1"))
	}
	e.must(ops...)
	a, err := s.Assignments(testCtx(t))
	if err != nil || !a.Full || len(a.Tasks) != n {
		t.Fatalf("after the overflow: full %v, %d tasks, %v; want the full set of %d", a.Full, len(a.Tasks), err, n)
	}
	e.must(createTask(newTask("late", "n1")), assign("late", "n1"))
	a, err = s.Assignments(testCtx(t))
	if err != nil || a.Full || len(a.Tasks) != 1 || a.Tasks[0].Status.State != api.TaskStateAssigned {
		t.Fatalf("after the resync: %+v %v, want the one new task", a, err)
	}
}
