package manager

import (
	"context"
	"fmt"
	"time"

	"github.com/shoalproject/shoal/internal/cluster"
)

// readyWait bounds how long a write taken by a newly elected leader waits
// for its leadership barrier; a var for tests.
var readyWait = 5 * time.Second

// setReadyTerm records the term whose leadership barrier has applied (0:
// none, leadership lost) and wakes the writes waiting at the gate, which
// look again. m.leadMu is held.
func (m *Manager) setReadyTerm(term uint64) {
	m.readyTerm = term
	close(m.readyChanged)
	m.readyChanged = make(chan struct{})
}

// writable is the gate of every API write: it returns once this manager
// leads in a term whose leadership barrier has applied, so that its store
// holds every write committed before that term. A write decides from the
// store (a name that is not there, a version) before it proposes, and
// answers some requests ("not found", "exists", "unchanged") without
// proposing anything: a leader just elected still applying the entries
// of the last term would answer them from stale state. A follower, a
// leader that loses its leadership while waiting, or one whose barrier
// takes longer than readyWait refuses with cluster.ErrNotWritten: nothing
// was written, and the API sends the write on to the leader, or the
// client may try again.
// Writable is writable for callers outside the package that read the
// store to decide a write they then propose (the daemon's autolock).
func (m *Manager) Writable(ctx context.Context) error { return m.writable(ctx) }

func (m *Manager) writable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	for {
		m.leadMu.Lock()
		term, changed := m.readyTerm, m.readyChanged
		m.leadMu.Unlock()
		// Leader first, then the term: terms only grow, so a leader seen
		// before a term equal to readyTerm led in readyTerm.
		if !m.raft.IsLeader() {
			return fmt.Errorf("%w: %w", cluster.ErrNotLeader, cluster.ErrNotWritten)
		}
		if term != 0 && m.raft.Term() == term {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w: elected, but the store has not applied the log of the last term yet (%v)", cluster.ErrNotLeader, cluster.ErrNotWritten, ctx.Err())
		}
	}
}
