package manager

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/state"
)

// SetAutolock (and the daemon's setAutolock, which decides from the
// store's current setting before calling it, through Writable) passes the
// write gate: a just-elected leader whose store has not applied the last
// term writes nothing (found by review).
func TestSetAutolockPassesTheGate(t *testing.T) {
	defer func(w time.Duration) { readyWait = w }(readyWait)
	readyWait = 200 * time.Millisecond
	m := startWithBarrier(t, "managernode0000000000000r", func(time.Duration) error { return errors.New("timed out") })
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !m.IsLeader() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	err := m.SetAutolock(ctx, state.AutolockSetting{})
	if !errors.Is(err, cluster.ErrNotWritten) {
		t.Fatalf("SetAutolock on a leader whose barrier has not applied: %v, want not written", err)
	}
}
