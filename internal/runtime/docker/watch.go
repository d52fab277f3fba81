package docker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// retryInspect is how long a watcher waits before it inspects again after
// an inspection failed.
const retryInspect = time.Second

var _ runtime.Watcher = (*Runtime)(nil)

// poke wakes the task's watchers, which inspect it again. Each watcher
// has room for one pending wake-up, which stands for any number of events:
// a burst of events costs one inspection, and nothing queues.
func (t *task) poke() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, w := range t.watchers {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Watch returns a channel of the task's handle: first at once, read from
// a fresh inspection of its container (after an agent restart, what the
// agent adopts is what the container holds now, not what it held once),
// then again after every engine event that may change what the agent
// reports of it (a network connected or disconnected, a pause, a kill, an
// out-of-memory kill, a reopened event stream), each time its endpoints
// changed. The endpoints are those the container holds at an inspection
// made after the event, none when it lost them. Only the latest handle
// waits for a slow reader. The channel is closed when the container ends,
// ctx ends or the Runtime closes.
func (r *Runtime) Watch(ctx context.Context, id string) (<-chan runtime.Handle, error) {
	t, err := r.lookup(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("watch task %s: %w", id, err)
	}
	out := make(chan runtime.Handle, 1)
	if t.exited() {
		close(out)
		return out, nil
	}
	wake := make(chan struct{}, 1)
	wake <- struct{}{} // the first inspection, at once
	t.mu.Lock()
	t.watchers = append(t.watchers, wake)
	t.mu.Unlock()
	drop := func() {
		t.mu.Lock()
		t.watchers = slices.DeleteFunc(t.watchers, func(w chan struct{}) bool { return w == wake })
		t.mu.Unlock()
	}
	if !r.goTracked(func() {
		defer close(out)
		defer drop()
		r.forwardHandles(ctx, t, wake, out)
	}) {
		drop()
		return nil, fmt.Errorf("watch task %s: %w", id, ErrClosed)
	}
	return out, nil
}

// forwardHandles inspects the task on each wake-up and sends its handle
// when its endpoints changed, until it ends, ctx ends or the Runtime
// closes.
func (r *Runtime) forwardHandles(ctx context.Context, t *task, wake <-chan struct{}, out chan runtime.Handle) {
	var last []api.TaskEndpoint
	first := true
	var retry <-chan time.Time
	for {
		select {
		case <-wake:
		case <-retry:
		case <-t.done:
			return
		case <-ctx.Done():
			return
		case <-r.closed:
			return
		}
		retry = nil
		ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
		// Close does not wait for an engine that hangs.
		stop := context.AfterFunc(r.ctx, cancel)
		err := r.refresh(ictx, t)
		stop()
		cancel()
		if err != nil {
			if ctx.Err() != nil || r.isClosed() {
				return
			}
			r.log.Warn("inspect container after an event; trying again", "task", t.id, "err", err, "in", retryInspect)
			retry = time.After(retryInspect)
			continue
		}
		if t.exited() {
			return
		}
		h := t.handle()
		if !first && slices.Equal(h.Endpoints, last) {
			continue
		}
		first, last = false, h.Endpoints
		// The only sender: once a stale handle is taken out, the send
		// cannot block.
		select {
		case <-out:
		default:
		}
		out <- h
	}
}
