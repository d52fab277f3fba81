package state

import (
	"context"
	"errors"
	"sync"

	"github.com/shoalproject/shoal/api"
)

// ErrClosed is returned by Next once the subscription is closed.
var ErrClosed = errors.New("subscription closed")

// ErrSlowSubscriber is returned by Next and Drain of a bounded
// subscription whose reader fell behind by more than its limit of events:
// the subscription was closed, and the reader must read the store again
// to go on.
var ErrSlowSubscriber = errors.New("subscriber fell behind")

// Subscription receives every change to the store, in commit order. A
// slow reader delays only itself, never the writers. The queue of a
// subscription from Subscribe is unbounded: its readers are the
// manager's own loops, which take events as fast as they come. One from
// SubscribeBounded, for readers the manager does not control (an API
// client), is closed with ErrSlowSubscriber when its queue would pass its
// limit.
type Subscription struct {
	store  *Store
	node   string // the node whose tasks it follows; "": everything
	limit  int    // 0: unbounded
	mu     sync.Mutex
	queue  []api.Event
	wake   chan struct{}
	closed bool
	err    error // why it closed, if not by Close
}

func newSubscription(s *Store, limit int) *Subscription {
	return &Subscription{store: s, limit: limit, wake: make(chan struct{}, 1)}
}

// push queues evs. It reports false when the subscription overflowed and
// closed: the store then forgets it.
func (s *Subscription) push(evs []api.Event) bool {
	if len(evs) == 0 {
		return true
	}
	s.mu.Lock()
	ok := true
	switch {
	case s.closed:
	case s.limit > 0 && len(s.queue)+len(evs) > s.limit:
		s.closed, s.err, s.queue = true, ErrSlowSubscriber, nil
		ok = false
	case s.queue == nil:
		// The commit's events are shared by the subscribers that read
		// between commits instead of copied into each queue (issue 15: a
		// tenth of a deploy's allocated bytes). The capacity is cut so
		// that an append, here or by a reader, copies them.
		s.queue = evs[:len(evs):len(evs)]
	default:
		s.queue = append(s.queue, evs...)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return ok
}

// closedErr is what a read of the closed subscription returns.
func (s *Subscription) closedErr() error {
	if s.err != nil {
		return s.err
	}
	return ErrClosed
}

// Next returns all events queued since the last call, waiting for at least
// one. Readers must not change the events: other subscriptions may hold
// the same ones (Drain's too). It returns ctx's error when ctx ends, ErrClosed after Close, and
// ErrSlowSubscriber once a bounded subscription overflowed.
func (s *Subscription) Next(ctx context.Context) ([]api.Event, error) {
	for {
		s.mu.Lock()
		if s.closed {
			err := s.closedErr()
			s.mu.Unlock()
			return nil, err
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
		return nil, s.closedErr()
	}
	evs := s.queue
	s.queue = nil
	return evs, nil
}
