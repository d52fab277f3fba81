package agentlink_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/state"
)

// Each routes stream costs the manager a snapshot of the whole cluster,
// encoded in memory, held while the reader takes its time: a worker (one
// certificate) that opened many at once made the manager hold as many.
// An agent process has one stream, its new one ending its older one, and
// a node streams to at most two agent processes.
func TestRoutesStreamsPerNodeAreBounded(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	type stream struct {
		synced chan struct{}
		done   chan error
	}
	follow := func(c *agentlink.Client) stream {
		s := stream{make(chan struct{}, 1), make(chan error, 1)}
		go func() {
			_, err := c.FollowRoutes(ctx, func(agentlink.Routes) { s.synced <- struct{}{} }, func(...api.Event) {})
			s.done <- err
		}()
		return s
	}
	wait := func(s stream) error {
		select {
		case <-s.synced:
			return nil
		case err := <-s.done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("no answer to a routes stream")
			return nil
		}
	}
	agent := e.client(nodeA)
	first := follow(agent)
	if err := wait(first); err != nil {
		t.Fatal(err)
	}
	again := follow(agent)
	if err := wait(again); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.done:
	case <-time.After(5 * time.Second):
		t.Fatal("an agent's older routes stream still runs beside its new one")
	}
	if err := wait(follow(e.client(nodeA))); err != nil {
		t.Fatalf("a second agent process of the node: %v", err)
	}
	if err := wait(follow(e.client(nodeA))); err == nil || !strings.Contains(err.Error(), "already has routes streams") {
		t.Fatalf("a third agent process of the node: %v, want refused", err)
	}
	cancel()
}

// A task's status message and error are for the API, not for routing: a
// failed health check's last output goes there (a health script may print
// what it connects with), and the routes stream goes to every worker.
func TestRoutesStreamCarriesNoTaskMessages(t *testing.T) {
	e := newEnv(t)
	failed := func() *api.Task {
		return &api.Task{ID: api.NewID(), ServiceID: "svcid", ServiceName: "web", Slot: 1, NodeID: nodeA, DesiredState: api.TaskStateRunning,
			Status: api.TaskStatus{State: api.TaskStateFailed, Message: "health check failed", Err: "task: unhealthy container: password=hunter2", RuntimeID: "4242"}}
	}
	before := failed()
	e.must(state.Op{Kind: state.OpCreateTask, Task: before})
	resets, events := e.followRoutes(nodeB)
	leaks := func(tk *api.Task) bool {
		return tk.Status.Message != "" || tk.Status.Err != "" || tk.Status.RuntimeID != ""
	}
	r := <-resets
	if len(r.Tasks) != 1 || leaks(r.Tasks[0]) {
		t.Errorf("snapshot tasks %+v: want no status message, error or runtime ID", r.Tasks)
	}
	after := failed()
	e.must(state.Op{Kind: state.OpCreateTask, Task: after})
	for ev := range events {
		if ev.Type == api.EventTask && ev.ID == after.ID {
			if leaks(ev.Task) {
				t.Errorf("task event %+v: want no status message, error or runtime ID", ev.Task.Status)
			}
			break
		}
	}
}
