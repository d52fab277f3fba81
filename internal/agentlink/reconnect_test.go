package agentlink_test

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/process"
	"github.com/shoalproject/shoal/internal/state"
)

// swappable serves agents through whichever link server is current, or
// answers 503 while there is none: a manager that goes away and comes
// back with none of its sessions.
type swappable struct {
	cur atomic.Pointer[agentlink.Server]
}

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	srv := s.cur.Load()
	if srv == nil {
		http.Error(w, `{"message":"manager away"}`, http.StatusServiceUnavailable)
		return
	}
	srv.ServeHTTP(w, r)
}

// waitTaskState waits on the store's change stream for a task to reach
// st or beyond.
func waitTaskState(t *testing.T, store *state.Store, id string, st api.TaskState) *api.Task {
	t.Helper()
	tx, sub := store.Subscribe()
	defer sub.Close()
	if tk := tx.Task(id); tk != nil && tk.Status.State >= st {
		return tk
	}
	ctx := testCtx(t)
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("task %s never reached %s: %v", id, st, err)
		}
		for _, ev := range evs {
			if ev.Type == api.EventTask && ev.ID == id && ev.Task.Status.State >= st {
				return ev.Task
			}
		}
	}
}

// A real agent over HTTP: a task that ends while the manager is away is
// reported once the agent is back in a session with a manager that lost
// every session (a restart).
func TestReportWhileAwayReachesTheManager(t *testing.T) {
	e := newEnv(t)
	sw := &swappable{}
	sw.cur.Store(e.srv)
	hs := newTLSServer(sw, e.mgr)
	t.Cleanup(hs.Close)
	link, err := agentlink.NewClient(strings.TrimPrefix(hs.URL, "https://"), e.ident(nodeA), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.Close)

	dir, err := os.MkdirTemp("", "shoal-link-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	rt, err := process.New(dir, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ag := agent.New(agent.Config{NodeID: nodeA, Addr: "127.0.0.1", Role: api.RoleWorker, Runtimes: []runtime.Runtime{rt},
		Manager: link, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		rt.Close()
	})

	tk := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"sleep", "1000"}})
	running := waitTaskState(t, e.store, tk.ID, api.TaskStateRunning)
	pid, err := strconv.Atoi(running.Status.RuntimeID)
	if err != nil {
		t.Fatal(err)
	}

	// The manager goes away: its sessions end, the agent cannot register.
	sw.cur.Store(nil)
	e.srv.Close()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Away long enough for the runner to see the exit and queue the
	// report (nothing to wait on: the agent has no one to tell).
	time.Sleep(300 * time.Millisecond)
	if st := e.store.Read().Task(tk.ID).Status.State; st != api.TaskStateRunning {
		t.Fatalf("task is %s while the manager is away", st)
	}

	// Back, with none of its sessions (as after a restart).
	back := agentlink.NewServer(agentlink.ServerConfig{Dispatcher: e.d, Store: e.store, Issuer: e.issuer, Logger: quiet})
	t.Cleanup(back.Close)
	sw.cur.Store(back)
	got := waitTaskState(t, e.store, tk.ID, api.TaskStateComplete)
	if got.Status.State != api.TaskStateFailed || got.Status.ExitCode == nil || *got.Status.ExitCode != 137 {
		t.Fatalf("task after the manager came back: %+v, want failed with exit 137", got.Status)
	}
}
