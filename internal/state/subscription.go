package state

import (
	"context"
	"errors"
	"sync"

	"github.com/shoalproject/shoal/api"
)

// ErrClosed is returned by Next once the subscription is closed.
var ErrClosed = errors.New("subscription closed")

// Subscription receives every change to the store, in commit order. Its
// queue is unbounded: a slow reader delays only itself, never the writers.
type Subscription struct {
	store  *Store
	mu     sync.Mutex
	queue  []api.Event
	wake   chan struct{}
	closed bool
}

func newSubscription(s *Store) *Subscription {
	return &Subscription{store: s, wake: make(chan struct{}, 1)}
}

func (s *Subscription) push(evs []api.Event) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	if !s.closed {
		s.queue = append(s.queue, evs...)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next returns all events queued since the last call, waiting for at least
// one. It returns ctx's error when ctx ends, and ErrClosed after Close.
func (s *Subscription) Next(ctx context.Context) ([]api.Event, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if len(s.queue) > 0 {
			evs := s.queue
			s.queue = nil
			s.mu.Unlock()
			return evs, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.wake:
		}
	}
}

// Close stops the subscription and wakes a waiting Next.
func (s *Subscription) Close() {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
	if already {
		return
	}
	s.store.unsubscribe(s)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Ready returns a channel that receives when events may be waiting; call
// Drain after it fires. It lets a reader select on the subscription and a
// timer together.
func (s *Subscription) Ready() <-chan struct{} { return s.wake }

// Drain returns the events queued so far without waiting (none is fine).
func (s *Subscription) Drain() ([]api.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	evs := s.queue
	s.queue = nil
	return evs, nil
}
