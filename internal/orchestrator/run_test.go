package orchestrator

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor waits on the store's events until cond holds.
func waitFor(t *testing.T, store *state.Store, what string, cond func(*state.ReadTx) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, sub := store.Subscribe()
	defer sub.Close()
	for !cond(tx) {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		tx = store.Read()
	}
}

func liveCount(tx *state.ReadTx, svc string) int {
	n := 0
	for _, t := range tx.TasksByService(svc) {
		if t.Live() {
			n++
		}
	}
	return n
}

func TestRunReactsToEventsAndRestartTimers(t *testing.T) {
	s := newSim(t, 2, &api.RestartPolicy{Delay: api.DurationPtr(30 * time.Second)})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.orch.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}()

	waitFor(t, s.store, "2 tasks", func(tx *state.ReadTx) bool { return liveCount(tx, s.svcID) == 2 })
	var victim *api.Task
	for _, tk := range s.store.Read().TasksByService(s.svcID) {
		victim = tk
	}
	s.write(state.Op{Kind: state.OpAssignTask, ID: victim.ID, NodeID: s.node})
	s.report(victim, api.TaskStateFailed, "exited")
	// The replacement waits for the restart delay: a timer on the fake
	// clock, not a poll.
	tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
	defer tcancel()
	if !s.clock.WaitForTimers(1, tctx.Done()) {
		t.Fatal("no restart timer was armed")
	}
	if n := liveCount(s.store.Read(), s.svcID); n != 1 {
		t.Fatalf("%d live tasks during the restart delay, want 1", n)
	}
	// The loop re-arms its timer after every pass, reading the clock
	// first: an Advance between that read and the new timer puts the
	// fake wake 30s later (a real clock only wakes that much later). So
	// advance again while the replacement has not come.
	for !advanceUntil(t, s, 30*time.Second, func(tx *state.ReadTx) bool { return liveCount(tx, s.svcID) == 2 }) {
		if !s.clock.WaitForTimers(1, tctx.Done()) {
			t.Fatal("no restart timer was armed for the replacement")
		}
	}
	scaled := *s.store.Read().Service(s.svcID)
	scaled.Spec.Mode = api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 5}}
	s.write(state.Op{Kind: state.OpUpdateService, Service: &scaled})
	waitFor(t, s.store, "5 tasks", func(tx *state.ReadTx) bool { return liveCount(tx, s.svcID) == 5 })
}

// advanceUntil advances s's clock by d and reports whether cond holds
// within a second of store events after it.
func advanceUntil(t *testing.T, s *sim, d time.Duration, cond func(*state.ReadTx) bool) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	tx, sub := s.store.Subscribe()
	defer sub.Close()
	s.clock.Advance(d)
	for !cond(tx) {
		if _, err := sub.Next(ctx); err != nil {
			return false
		}
		tx = s.store.Read()
	}
	return true
}
