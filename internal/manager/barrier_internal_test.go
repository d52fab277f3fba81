package manager

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/state"
)

// A barrier that fails after an election is retried until it passes:
// the manager then runs its controllers instead of leading idle.
func TestFailedLeadershipBarrierIsRetried(t *testing.T) {
	var calls atomic.Int32
	m := startWithBarrier(t, "managernode0000000000000b", func(time.Duration) error {
		if calls.Add(1) <= 3 {
			return errors.New("timed out enqueuing operation")
		}
		return nil
	})
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.WaitLeader(ctx); err != nil {
		t.Fatalf("after 3 failed barriers: %v (barrier tried %d times)", err, calls.Load())
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("barrier tried %d times, want 4", n)
	}
}

// While the barrier keeps failing, closing the manager ends the retries.
func TestBarrierRetriesEndWithLeadership(t *testing.T) {
	tried := make(chan struct{}, 1)
	m, err := Start(Config{RaftDir: t.TempDir(), NodeID: "managernode0000000000000c", FastRaft: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		barrier: func(time.Duration) error {
			select {
			case tried <- struct{}{}:
			default:
			}
			return errors.New("timed out")
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case <-tried:
		case <-time.After(20 * time.Second):
			m.Close()
			t.Fatalf("barrier tried %d times, want a retry", i)
		}
	}
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close hangs while the barrier is retried")
	}
	if m.IsLeader() {
		t.Error("still leader after Close")
	}
}

// A newly elected leader whose store has not yet applied the writes
// committed in earlier terms answers no write from it: an update of a
// config whose creation it has not applied yet is not "not found", and a
// create of it not "ok", until the leadership barrier has applied (the
// Jepsen test's anomaly, seed 1796566519276917797). The barrier hook
// stands in for Raft's: it applies the "committed" creation, then passes.
func TestWritesWaitForTheLeadershipBarrier(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var m *Manager
	var once sync.Once
	m = startWithBarrier(t, "managernode0000000000000d", func(time.Duration) error {
		first := false
		once.Do(func() { first = true })
		if !first {
			return nil
		}
		close(entered)
		<-release
		// What the store applies before the barrier passes.
		c := &api.Config{ID: api.NewID(), Spec: api.ConfigSpec{Name: "jcfg-1", Data: []byte("v0")}}
		res, err := m.raft.Propose(context.Background(), &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpCreateConfig, Config: c}}})
		if err == nil {
			err = res.Err
		}
		return err
	})
	defer m.Close()
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	defer open() // before Close, which waits for the barrier
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("never elected")
	}
	if !m.IsLeader() {
		t.Fatal("the barrier runs, but the manager does not lead")
	}
	type answer struct {
		what string
		err  error
	}
	answers := make(chan answer, 2)
	go func() {
		_, err := m.UpdateConfigLabels(ctx, "jcfg-1", 0, map[string]string{"jepsen.value": "1"})
		answers <- answer{"update", err}
	}()
	go func() {
		_, err := m.CreateConfig(ctx, api.ConfigSpec{Name: "jcfg-1", Data: []byte("v1")})
		answers <- answer{"create", err}
	}()
	select {
	case a := <-answers:
		t.Fatalf("%s answered before the leadership barrier applied: %v", a.what, a.err)
	case <-time.After(300 * time.Millisecond):
	}
	open()
	for range 2 {
		a := <-answers
		switch a.what {
		case "update":
			if a.err != nil {
				t.Errorf("update after the barrier: %v, want ok", a.err)
			}
		case "create":
			if !errors.Is(a.err, ErrConflict) {
				t.Errorf("create after the barrier: %v, want already exists", a.err)
			}
		}
	}
}

// A leader whose barrier does not pass within readyWait refuses writes
// as not written, so that the API may send them on or the client retry.
func TestWritesRefusedWhileTheBarrierHangs(t *testing.T) {
	defer func(w time.Duration) { readyWait = w }(readyWait)
	readyWait = 200 * time.Millisecond
	m := startWithBarrier(t, "managernode0000000000000e", func(time.Duration) error { return errors.New("timed out") })
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !m.IsLeader() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	err := m.RemoveConfig(ctx, "jcfg-1")
	if !errors.Is(err, cluster.ErrNotWritten) || errors.Is(err, state.ErrNotFound) {
		t.Fatalf("remove on a leader whose barrier hangs: %v, want not written", err)
	}
	// node promote decides from the store too (the node's role, state).
	err = m.PromoteNode(ctx, "nosuchnode")
	if !errors.Is(err, cluster.ErrNotWritten) || errors.Is(err, state.ErrNotFound) {
		t.Fatalf("promote on a leader whose barrier hangs: %v, want not written", err)
	}
}

// The gate opens on the barrier of the current term only: a leader whose
// last barrier passed in an earlier term (lost and won again, the change
// not yet seen by followLeadership) takes no write until the new term's.
func TestGateWantsTheBarrierOfTheCurrentTerm(t *testing.T) {
	defer func(w time.Duration) { readyWait = w }(readyWait)
	readyWait = 200 * time.Millisecond
	m := startWithBarrier(t, "managernode0000000000000f", nil)
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.writable(ctx); err != nil {
		t.Fatalf("after this term's barrier: %v", err)
	}
	m.leadMu.Lock()
	term := m.readyTerm
	m.setReadyTerm(term - 1)
	m.leadMu.Unlock()
	if err := m.writable(ctx); !errors.Is(err, cluster.ErrNotWritten) {
		t.Fatalf("with the barrier of term %d in term %d: %v, want not written", term-1, term, err)
	}
	m.leadMu.Lock()
	m.setReadyTerm(term)
	m.leadMu.Unlock()
	if err := m.writable(ctx); err != nil {
		t.Fatalf("with the barrier of the current term back: %v", err)
	}
}

// startWithBarrier starts a one-manager cluster whose leadership barrier
// is barrier (Raft's when nil); the test closes it.
func startWithBarrier(t *testing.T, nodeID string, barrier func(time.Duration) error) *Manager {
	t.Helper()
	m, err := Start(Config{RaftDir: t.TempDir(), NodeID: nodeID, FastRaft: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), barrier: barrier})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
