package dispatcher

import (
	"context"
	"fmt"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// Session is one agent's connection: assignments down, status up.
type Session struct {
	d      *Dispatcher
	nodeID string
	ctx    context.Context
	cancel context.CancelFunc
	first  *state.ReadTx // the view the first, full assignment comes from
	sub    *state.Subscription
	// sent are the IDs of the configs and secrets the agent was given in
	// this session, since the last full assignment.
	sent map[string]bool
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
		var a api.Assignments
		a.Full = true
		for _, t := range s.first.TasksByNode(s.nodeID) {
			if s.assigned(t) {
				a.Tasks = append(a.Tasks, t)
			}
		}
		s.attachFiles(s.first, &a)
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
				a = api.Assignments{Full: true}
				tx := s.d.Store.Read()
				for _, t := range tx.TasksByNode(s.nodeID) {
					if s.assigned(t) {
						a.Tasks = append(a.Tasks, t)
					}
				}
				s.attachFiles(tx, &a)
				return a, nil
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
		if len(a.Tasks) > 0 || len(a.Removed) > 0 {
			s.attachFiles(s.d.Store.Read(), &a)
			return a, nil
		}
	}
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
	s.sub.Close()
	s.d.endSession(s)
}
