package manager

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// A barrier that fails after an election is retried until it passes:
// the manager then runs its controllers instead of leading idle.
func TestFailedLeadershipBarrierIsRetried(t *testing.T) {
	var calls atomic.Int32
	m, err := Start(Config{RaftDir: t.TempDir(), NodeID: "managernode0000000000000b", FastRaft: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		barrier: func(time.Duration) error {
			if calls.Add(1) <= 3 {
				return errors.New("timed out enqueuing operation")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
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
