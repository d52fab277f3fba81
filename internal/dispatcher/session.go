package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// DefaultSessionQueue bounds the events queued for one session. A session
// follows only its node's tasks (state.SubscribeNode); one that falls this
// far behind is resynced: its next assignment is the full set, read
// afresh, and its queue starts empty.
const DefaultSessionQueue = 10000

// Session is one agent's connection: assignments down, status up.
type Session struct {
	d      *Dispatcher
	nodeID string
	// agent is the registration's session: the agent's run.
	agent  string
	ctx    context.Context
	cancel context.CancelFunc
	first  *state.ReadTx // the view the first, full assignment comes from
	// mu guards sub, replaced when the session is resynced, and closed.
	mu     sync.Mutex
	sub    *state.Subscription
	closed bool
	// sent are the IDs of the configs and secrets the agent was given in
	// this session, since the last full assignment.
	sent map[string]bool
	// role is the node's role last sent to the agent.
	role string
}

// NodeID is the node the session serves.
func (s *Session) NodeID() string { return s.nodeID }

// Done is closed when the session ends: closed by its agent, ended by the
// dispatcher because its node was marked down, or because the dispatcher
// stopped.
func (s *Session) Done() <-chan struct{} { return s.ctx.Done() }

// assigned reports whether the agent should know of t: placed on this node
// and past scheduling.
func (s *Session) assigned(t *api.Task) bool {
	return t.NodeID == s.nodeID && t.Status.State >= api.TaskStateAssigned
}

// Assignments returns the next change to the node's tasks, waiting for one.
// The first call returns the full set.
func (s *Session) Assignments(ctx context.Context) (api.Assignments, error) {
	if s.first != nil {
		a := s.full(s.first)
		s.first = nil
		return a, nil
	}
	for {
		select {
		case <-ctx.Done():
			return api.Assignments{}, ctx.Err()
		case <-s.ctx.Done():
			return api.Assignments{}, fmt.Errorf("session closed: %w", ErrNotRunning)
		case <-s.sub.Ready():
		}
		evs, err := s.sub.Drain()
		if errors.Is(err, state.ErrSlowSubscriber) && s.ctx.Err() == nil {
			tx, sub := s.d.Store.SubscribeNode(s.nodeID, s.d.sessionQueue())
			s.mu.Lock()
			s.sub = sub
			closed := s.closed
			s.mu.Unlock()
			if closed {
				sub.Close()
				return api.Assignments{}, fmt.Errorf("session closed: %w", ErrNotRunning)
			}
			return s.full(tx), nil
		}
		if err != nil {
			if s.ctx.Err() != nil {
				// Closed while waiting: the subscription went first.
				return api.Assignments{}, fmt.Errorf("session closed: %w", ErrNotRunning)
			}
			return api.Assignments{}, err
		}
		var a api.Assignments
		seen := map[string]int{}
		for _, ev := range evs {
			switch {
			case ev.Type == state.EventReset:
				// Start over from a full set.
				return s.full(s.d.Store.Read()), nil
			case ev.Type == api.EventNode && ev.ID == s.nodeID && ev.Node != nil:
				// Promoted or demoted: the agent acts on it.
				if r := ev.Node.Spec.Role; r != "" && r != s.role {
					s.role, a.Role = r, r
				}
			case ev.Type != api.EventTask || ev.Task.NodeID != s.nodeID:
				continue
			case ev.Action == api.ActionRemove:
				a.Removed = append(a.Removed, ev.ID)
				delete(seen, ev.ID)
			case s.assigned(ev.Task):
				// Keep only the latest version of each task.
				if i, ok := seen[ev.ID]; ok {
					a.Tasks[i] = ev.Task
				} else {
					seen[ev.ID] = len(a.Tasks)
					a.Tasks = append(a.Tasks, ev.Task)
				}
			}
		}
		if len(a.Tasks) > 0 || len(a.Removed) > 0 || a.Role != "" {
			s.attachFiles(s.d.Store.Read(), &a)
			return a, nil
		}
	}
}

// full is the node's whole assignment as of tx.
func (s *Session) full(tx *state.ReadTx) api.Assignments {
	a := api.Assignments{Full: true}
	if n := tx.Node(s.nodeID); n != nil {
		a.Role = n.Spec.Role
		s.role = a.Role
	}
	for _, t := range tx.TasksByNode(s.nodeID) {
		if s.assigned(t) {
			a.Tasks = append(a.Tasks, t)
		}
	}
	s.attachFiles(tx, &a)
	return a
}

// Heartbeat tells the dispatcher the node is alive and returns the period
// of the next beat.
func (s *Session) Heartbeat(ctx context.Context) (time.Duration, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, fmt.Errorf("session closed: %w", ErrNotRunning)
	}
	if err := s.d.beat(s.nodeID); err != nil {
		return 0, err
	}
	return s.d.period(), nil
}

// Close ends the session.
func (s *Session) Close() {
	s.cancel()
	s.mu.Lock()
	s.closed = true
	sub := s.sub
	s.mu.Unlock()
	sub.Close()
	s.d.endSession(s)
}
