package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// Bounds of the event relay to browsers.
const (
	// subscriberQueue is how many events may wait for one browser; a
	// browser further behind is dropped (it reconnects and reloads).
	subscriberQueue = 256
	// maxStreams bounds the browsers streaming at once.
	maxStreams = 32
	// writeTimeout bounds each write to a browser.
	writeTimeout = 10 * time.Second
	// keepalive is how often an idle stream gets a comment line, so that
	// a vanished browser is noticed by a failed write.
	keepalive = 20 * time.Second
)

// feedEvent is what a browser is told of one change: enough for the
// event feed; the page reads the state again for the rest.
type feedEvent struct {
	Type    string    `json:"type"`
	Action  string    `json:"action"`
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	State   string    `json:"state,omitempty"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

func toFeed(ev api.Event, now time.Time) feedEvent {
	f := feedEvent{Type: ev.Type, Action: ev.Action, ID: ev.ID, Time: now}
	switch {
	case ev.Service != nil:
		f.Name = ev.Service.Spec.Name
		if st := ev.Service.UpdateStatus; st != nil {
			f.State = st.State
		}
	case ev.Task != nil:
		f.Name = ev.Task.Name()
		f.State = ev.Task.Status.State.String()
		f.Message = ev.Task.Status.Err
	case ev.Node != nil:
		f.Name = ev.Node.Description.Hostname
		f.State = ev.Node.Status.State
	case ev.Config != nil:
		f.Name = ev.Config.Spec.Name
	case ev.Secret != nil:
		f.Name = ev.Secret.Spec.Name
	case ev.Network != nil:
		f.Name = ev.Network.Spec.Name
	}
	return f
}

// relay follows the API's event stream, once, while at least one browser
// streams, and fans it out to the browsers' streams, each through a
// bounded queue. With no browser it holds no stream open on the API.
type relay struct {
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
	// base is run's context and follow what follows the events (both
	// nil outside run); stop ends the follower running, nil when none.
	base   context.Context
	follow func(ctx context.Context)
	stop   context.CancelFunc
	wg     sync.WaitGroup
	// follows counts the followers started (tests).
	follows int
}

func newRelay() *relay { return &relay{subs: map[chan []byte]struct{}{}} }

// resync tells browsers to read the whole state again: the relay
// (re)connected and may have missed changes.
var resync = []byte("event: resync\ndata: {}\n\n")

// run relays c's events until ctx ends, following them while a browser
// streams.
func (rl *relay) run(ctx context.Context, c *client.Client, onErr func(error)) {
	rl.serve(ctx, func(ctx context.Context) { rl.followEvents(ctx, c, onErr) })
}

// serve runs follow whenever a browser streams and none runs, and ends it
// when the last browser leaves, until ctx ends; it returns once every
// follower has.
func (rl *relay) serve(ctx context.Context, follow func(context.Context)) {
	rl.mu.Lock()
	rl.base, rl.follow = ctx, follow
	rl.startLocked()
	rl.mu.Unlock()
	<-ctx.Done()
	rl.mu.Lock()
	rl.base, rl.follow, rl.stop = nil, nil, nil
	rl.mu.Unlock()
	rl.wg.Wait()
}

// startLocked starts a follower if a browser streams and none runs.
func (rl *relay) startLocked() {
	if rl.stop != nil || rl.base == nil || rl.closed || len(rl.subs) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(rl.base)
	rl.stop = cancel
	rl.follows++
	follow := rl.follow
	rl.wg.Add(1)
	go func() {
		defer rl.wg.Done()
		follow(ctx)
	}()
}

// idleLocked ends the follower when no browser streams any more.
func (rl *relay) idleLocked() {
	if len(rl.subs) == 0 && rl.stop != nil {
		rl.stop()
		rl.stop = nil
	}
}

// followEvents follows c's events until ctx ends, reconnecting after a
// break.
func (rl *relay) followEvents(ctx context.Context, c *client.Client, onErr func(error)) {
	for {
		err := c.Events(ctx, client.EventFilter{}, func(ev api.Event) error {
			if ev.Type == "sync" {
				rl.broadcast(resync)
				return nil
			}
			b, err := json.Marshal(toFeed(ev, time.Now()))
			if err != nil {
				return err
			}
			rl.broadcast(fmt.Appendf(nil, "event: change\ndata: %s\n\n", b))
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		if onErr != nil && !errors.Is(err, context.Canceled) {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// broadcast queues msg for every browser, dropping those whose queue is
// full: a slow browser never holds up the others or the manager.
func (rl *relay) broadcast(msg []byte) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	for ch := range rl.subs {
		select {
		case ch <- msg:
		default:
			delete(rl.subs, ch)
			close(ch)
		}
	}
	rl.idleLocked()
}

// subscribe adds a browser; nil when maxStreams already stream.
func (rl *relay) subscribe() chan []byte {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.closed || len(rl.subs) >= maxStreams {
		return nil
	}
	ch := make(chan []byte, subscriberQueue)
	rl.subs[ch] = struct{}{}
	rl.startLocked()
	return ch
}

// close ends every stream and refuses new ones: the server shuts down.
func (rl *relay) close() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.closed = true
	for ch := range rl.subs {
		delete(rl.subs, ch)
		close(ch)
	}
	rl.idleLocked()
}

func (rl *relay) unsubscribe(ch chan []byte) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if _, ok := rl.subs[ch]; ok {
		delete(rl.subs, ch)
		close(ch)
	}
	rl.idleLocked()
}

// serveEvents streams changes to one browser as server-sent events.
func (rl *relay) serveEvents(w http.ResponseWriter, r *http.Request) {
	ch := rl.subscribe()
	if ch == nil {
		http.Error(w, "too many event streams open", http.StatusServiceUnavailable)
		return
	}
	defer rl.unsubscribe(ch)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	write := func(b []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	if write([]byte("retry: 2000\n\n")) != nil {
		return
	}
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case msg, ok := <-ch:
			if !ok {
				// Dropped for falling behind: the browser reconnects
				// and reads the state again.
				return
			}
			if write(msg) != nil {
				return
			}
		case <-tick.C:
			if write([]byte(": keepalive\n\n")) != nil {
				return
			}
		}
	}
}
