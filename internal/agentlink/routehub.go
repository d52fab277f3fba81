package agentlink

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// routeHub is the one store subscription behind every routes stream of a
// server. It trims each change to what routing reads and encodes it once,
// then hands the batch to every stream's bounded queue: a commit costs
// the store one subscriber whatever the number of nodes, and each stream
// only filters (quietServices) and writes bytes already made. Without
// it, every stream subscribed to the whole store, and each commit copied
// its events into a thousand queues inside the Raft apply path, and each
// stream encoded them again.
//
// The hub subscribes while it has streams and lets go when the last one
// ends. A stream joins before it reads its snapshot, and skips the
// changes at or below the snapshot's index (routeStream.since), so that
// no change falls between the two and none is sent twice.
type routeHub struct {
	mu  sync.Mutex
	run *hubRun
}

// hubRun is one subscription of the hub and the streams it feeds.
type hubRun struct {
	cancel  context.CancelFunc
	streams map[*routeStream]struct{}
}

// routeEvent is a change trimmed for routing (routingTask and the
// others) and its JSON; raw is nil for one a stream made itself (the
// tasks of a service that became routed) or that is not sent as is
// (a reset).
type routeEvent struct {
	api.Event
	raw []byte
}

// routeStream is one routes stream's queue of changes from the hub.
type routeStream struct {
	limit int
	wake  chan struct{}
	mu    sync.Mutex
	// queue holds the hub's batches, shared with the other streams (a
	// batch is never written to), and queued their changes.
	queue  [][]routeEvent
	queued int
	err    error // state.ErrSlowSubscriber once the queue overflowed
}

// joinHub adds a stream with a queue of at most limit changes, starting
// the hub's subscription if it had none. It returns nil once the server
// is closed.
func (s *Server) joinHub(limit int) *routeStream {
	st := &routeStream{limit: limit, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return nil
	}
	h := &s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run == nil {
		ctx, cancel := context.WithCancel(s.ctx)
		run := &hubRun{cancel: cancel, streams: map[*routeStream]struct{}{}}
		_, sub := s.store.Subscribe()
		h.run = run
		// (Added under s.mu: Close cancels under it, then waits.)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer sub.Close()
			h.feed(ctx, sub, run)
		}()
	}
	h.run.streams[st] = struct{}{}
	return st
}

// leaveHub removes st; the hub lets its subscription go with its last
// stream.
func (s *Server) leaveHub(st *routeStream) {
	h := &s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	run := h.run
	if run == nil {
		return
	}
	delete(run.streams, st)
	if len(run.streams) == 0 {
		run.cancel()
		h.run = nil
	}
}

// feed reads sub until ctx ends and hands each batch, trimmed and
// encoded, to run's streams.
func (h *routeHub) feed(ctx context.Context, sub *state.Subscription, run *hubRun) {
	for {
		evs, err := sub.Next(ctx)
		// Next hands out what is queued before it looks at ctx: with
		// commits coming steadily, a run let go would read on.
		if err != nil || ctx.Err() != nil {
			return
		}
		batch := trimRouteEvents(evs)
		if len(batch) == 0 {
			continue
		}
		h.mu.Lock()
		for st := range run.streams {
			st.push(batch)
		}
		h.mu.Unlock()
	}
}

// trimRouteEvents keeps the changes routing follows, trimmed, each with
// its JSON.
func trimRouteEvents(evs []api.Event) []routeEvent {
	out := make([]routeEvent, 0, len(evs))
	for _, ev := range evs {
		switch ev.Type {
		case state.EventReset:
			out = append(out, routeEvent{Event: ev})
			continue
		case api.EventService:
			ev.Service = routingService(ev.Service)
		case api.EventTask:
			ev.Task = routingTask(ev.Task)
		case api.EventNetwork:
			ev.Network = routingNetwork(ev.Network)
		case api.EventNode:
			ev.Node = routingNode(ev.Node)
		default:
			continue
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			// Not for these types; a stream encodes it again and
			// reports the error if it ever happens.
			raw = nil
		}
		out = append(out, routeEvent{Event: ev, raw: raw})
	}
	return out
}

// push queues batch (shared: read only), or closes the queue when it
// would pass its limit.
func (st *routeStream) push(batch []routeEvent) {
	st.mu.Lock()
	switch {
	case st.err != nil:
	case st.queued+len(batch) > st.limit:
		st.err, st.queue, st.queued = state.ErrSlowSubscriber, nil, 0
	default:
		st.queue = append(st.queue, batch)
		st.queued += len(batch)
	}
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// drain returns the queued changes, or ErrSlowSubscriber once the queue
// overflowed.
func (st *routeStream) drain() ([][]routeEvent, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil {
		return nil, st.err
	}
	q := st.queue
	st.queue, st.queued = nil, 0
	return q, nil
}
