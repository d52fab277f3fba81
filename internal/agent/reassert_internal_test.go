package agent

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// countSession takes every batch, telling got its size.
type countSession struct {
	Session
	got chan int
}

func (s *countSession) Report(_ context.Context, reps []api.TaskReport) error {
	s.got <- len(reps)
	return nil
}

// deliver sends the want reports r queued on s, and returns once r has
// counted them sent.
func deliver(t *testing.T, r *reporter, s *countSession, want int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.send(ctx, s) }()
	for n := 0; n < want; {
		n += <-s.got
	}
	cancel()
	<-done
}

// The dispatcher sends back the agent's own reports as task changes: one
// made before the task ended ("running"), arriving after the end's
// report was taken, reads as the managers holding an ended task as not
// ended. That costs one copy of the end (refused as stale by the
// managers, no Raft entry), and no more until that copy is taken; a
// version holding it as ended sends nothing; a copy not yet taken is not
// sent again.
func TestReassertOnAStaleEchoSendsOneCopy(t *testing.T) {
	rep := newReporter()
	task := &api.Task{ID: "t1", Status: api.TaskStatus{State: api.TaskStateAssigned}}
	r := newRunner(task, nil, rep, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := &countSession{got: make(chan int, 8)}
	r.send(api.TaskStatus{State: api.TaskStateRunning}, nil)
	r.send(api.TaskStatus{State: api.TaskStateFailed}, nil)
	deliver(t, rep, s, 2)
	echo := &api.Task{ID: "t1", Status: api.TaskStatus{State: api.TaskStateRunning}}
	r.reassert(echo)
	r.reassert(echo) // the copy is not taken yet: nothing more
	if n := len(rep.queue); n != 1 {
		t.Fatalf("%d copies queued on a stale echo, want 1", n)
	}
	deliver(t, rep, s, 1)
	r.reassert(&api.Task{ID: "t1", Status: api.TaskStatus{State: api.TaskStateFailed}})
	if n := len(rep.queue); n != 0 {
		t.Fatalf("%d copies queued for a task the managers hold as ended", n)
	}
}
