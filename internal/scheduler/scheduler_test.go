package scheduler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"testing/synctest"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

// startScheduler runs a Scheduler over c until the test ends, and checks it
// then stops with the context's error.
func startScheduler(t *testing.T, c *cluster) {
	t.Helper()
	s := &Scheduler{
		Store:    c.store,
		Proposer: c.p,
		Clock:    clock.NewFake(t0),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

// waitTask waits, on store events, until the task satisfies ok.
func waitTask(t *testing.T, c *cluster, sub *state.Subscription, id string, what string, ok func(*api.Task) bool) *api.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for {
		if tk := c.store.Read().Task(id); tk != nil && ok(tk) {
			return tk
		}
		if _, err := sub.Next(ctx); err != nil {
			tk := c.store.Read().Task(id)
			t.Fatalf("task %s never became %s (%v); last: %+v", id, what, err, tk)
		}
	}
}

func assignedTo(node string) func(*api.Task) bool {
	return func(tk *api.Task) bool { return tk.Status.State == api.TaskStateAssigned && tk.NodeID == node }
}

func TestRunAssignsTasksCreatedAfterStart(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1", withCPUs(1))}, []*api.Task{mkTask("big", 1, reserveCPUs(2))})
	_, sub := c.store.Subscribe()
	defer sub.Close()
	startScheduler(t, c)
	// The scheduler is running once it explains the task it cannot place.
	waitTask(t, c, sub, "big-1", "explained", func(tk *api.Task) bool {
		return tk.Status.Err == "no suitable node (insufficient resources on 1 node)"
	})

	c.apply(state.Op{Kind: state.OpCreateTask, Task: mkTask("web", 1)}, state.Op{Kind: state.OpCreateTask, Task: mkTask("web", 2)})
	waitTask(t, c, sub, "web-1", "assigned", assignedTo("n1"))
	waitTask(t, c, sub, "web-2", "assigned", assignedTo("n1"))
	if tk := c.store.Read().Task("big-1"); tk.Status.State != api.TaskStatePending {
		t.Fatalf("an unplaceable task became %s", tk.Status.State)
	}
}

func TestRunPlacesTasksPendingAtStart(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1")}, []*api.Task{mkTask("web", 1)})
	_, sub := c.store.Subscribe()
	defer sub.Close()
	startScheduler(t, c)
	waitTask(t, c, sub, "web-1", "assigned", assignedTo("n1"))
}

func TestRunNodeAddedLaterUnblocksPendingTask(t *testing.T) {
	c := newCluster(t, nil, []*api.Task{mkTask("web", 1, image)})
	_, sub := c.store.Subscribe()
	defer sub.Close()
	startScheduler(t, c)
	waitTask(t, c, sub, "web-1", "explained", func(tk *api.Task) bool {
		return tk.Status.Err == "no suitable node (no nodes in the cluster)"
	})
	// A node without docker changes the reason only.
	c.apply(state.Op{Kind: state.OpUpsertNode, Node: mkNode("n1", processOnly)})
	waitTask(t, c, sub, "web-1", "re-explained", func(tk *api.Task) bool {
		return tk.Status.Err == "no suitable node (docker runtime not available on 1 node)"
	})
	c.apply(state.Op{Kind: state.OpUpsertNode, Node: mkNode("n2")})
	tk := waitTask(t, c, sub, "web-1", "assigned", assignedTo("n2"))
	if tk.Status.Err != "" {
		t.Fatalf("assigned task keeps the pending reason %q", tk.Status.Err)
	}
}

func TestRunNodeBecomingReadyUnblocksPendingTask(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1", down)}, []*api.Task{mkTask("web", 1)})
	_, sub := c.store.Subscribe()
	defer sub.Close()
	startScheduler(t, c)
	waitTask(t, c, sub, "web-1", "explained", func(tk *api.Task) bool { return tk.Status.Err != "" })
	c.apply(state.Op{Kind: state.OpNodeStatus, ID: "n1", NodeStatus: &api.NodeStatus{State: api.NodeStateReady}})
	waitTask(t, c, sub, "web-1", "assigned", assignedTo("n1"))
}

func TestRunEndedTaskMakesRoomForPendingOne(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1", withCPUs(1))}, []*api.Task{
		mkTask("old", 1, reserveCPUs(1), runningOn("n1")),
		mkTask("new", 1, reserveCPUs(1)),
	})
	_, sub := c.store.Subscribe()
	defer sub.Close()
	startScheduler(t, c)
	waitTask(t, c, sub, "new-1", "explained", func(tk *api.Task) bool {
		return tk.Status.Err == "no suitable node (insufficient resources on 1 node)"
	})
	c.apply(state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: "old-1", Status: api.TaskStatus{State: api.TaskStateFailed}}})
	waitTask(t, c, sub, "new-1", "assigned", assignedTo("n1"))
}

func TestRunIgnoresTasksNotWantedRunning(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1")}, []*api.Task{
		mkTask("gone", 1, func(tk *api.Task) { tk.DesiredState = api.TaskStateShutdown }),
		mkTask("web", 1),
	})
	_, sub := c.store.Subscribe()
	defer sub.Close()
	startScheduler(t, c)
	waitTask(t, c, sub, "web-1", "assigned", assignedTo("n1"))
	if tk := c.store.Read().Task("gone-1"); tk.NodeID != "" || tk.Status.State != api.TaskStatePending {
		t.Fatalf("a task not wanted running was placed: %+v", tk.Status)
	}
}

// TestRunGoesQuietWhenNothingChanges checks the loop does not rewrite an
// unchanged reason over and over: once every goroutine is blocked, no write
// is pending and the store stays as it is.
func TestRunGoesQuietWhenNothingChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, []*api.Node{mkNode("n1", down)}, []*api.Task{mkTask("web", 1), mkTask("web", 2)})
		ctx, cancel := context.WithCancel(context.Background())
		s := &Scheduler{Store: c.store, Proposer: c.p, Clock: clock.NewFake(t0)}
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		synctest.Wait()
		idx := c.store.Index()
		if tk := c.store.Read().Task("web-1"); tk.Status.Err != "no suitable node (1 node not available for new tasks)" {
			t.Fatalf("reason %q", tk.Status.Err)
		}
		// An unrelated node update wakes the loop; it finds nothing new to say.
		c.apply(state.Op{Kind: state.OpUpsertNode, Node: mkNode("n2", down)})
		synctest.Wait()
		if got := c.store.Index(); got != idx+2 {
			// one write for the node, one for the changed reason (2 nodes)
			t.Fatalf("index %d after a node change, want %d", got, idx+2)
		}
		c.apply(state.Op{Kind: state.OpUpsertNode, Node: mkNode("n2", down)})
		synctest.Wait()
		if got := c.store.Index(); got != idx+3 {
			t.Fatalf("index %d, want %d: the scheduler rewrote an unchanged reason", got, idx+3)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestRunStopsWhenAWriteFails(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1")}, []*api.Task{mkTask("web", 1)})
	boom := errors.New("not the leader")
	s := &Scheduler{Store: c.store, Proposer: failingProposer{boom}, Clock: clock.NewFake(t0)}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Run(ctx); !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the proposer's error", err)
	}
}

type failingProposer struct{ err error }

func (p failingProposer) Propose(context.Context, *state.Command) (state.Result, error) {
	return state.Result{}, p.err
}
