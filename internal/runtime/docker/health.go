package docker

import (
	"context"
	"fmt"
	"slices"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// healthSub is one reader of a task's health.
type healthSub struct {
	out  chan string
	wake chan struct{}

	mu      sync.Mutex
	pending []string
}

// push queues a status for the reader.
func (s *healthSub) push(status string) {
	s.mu.Lock()
	s.pending = append(s.pending, status)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take returns the queued statuses.
func (s *healthSub) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// pushHealth sends a health status to the task's readers.
func (t *task) pushHealth(status string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.health {
		s.push(status)
	}
}

// Health returns a channel of the task's health: first its current status
// ("starting", "healthy" or "unhealthy"; "" for a container without a health
// check), then every change the engine reports, until the container ends or
// ctx ends, when the channel is closed. The channel is closed at once for a
// task that already ended.
//
// The health check is the image's (HEALTHCHECK), or Container.Healthcheck,
// which overrides it; the engine runs it.
func (r *Runtime) Health(ctx context.Context, id string) (<-chan string, error) {
	t, err := r.lookup(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("health of task %s: %w", id, err)
	}
	out := make(chan string)
	if t.exited() {
		close(out)
		return out, nil
	}
	sub := &healthSub{out: out, wake: make(chan struct{}, 1)}
	t.mu.Lock()
	t.health = append(t.health, sub)
	t.mu.Unlock()
	drop := func() {
		t.mu.Lock()
		t.health = slices.DeleteFunc(t.health, func(s *healthSub) bool { return s == sub })
		t.mu.Unlock()
	}

	// The events since the reader was added are queued: the inspection
	// gives the status before them.
	res, err := r.cli.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{})
	if err != nil {
		drop()
		if cerrdefs.IsNotFound(err) {
			_ = r.refresh(ctx, t)
			close(out)
			return out, nil
		}
		return nil, fmt.Errorf("health of task %s: %w", id, err)
	}
	st := res.Container.State
	initial := ""
	if st != nil && st.Health != nil && st.Health.Status != container.NoHealthcheck {
		initial = string(st.Health.Status)
	}
	sub.mu.Lock()
	sub.pending = append([]string{initial}, sub.pending...)
	sub.mu.Unlock()
	if st != nil && !running(st) {
		t.finish(exitStatusOf(st))
	}

	if !r.goTracked(func() {
		defer close(out)
		defer drop()
		r.forwardHealth(ctx, t, sub)
	}) {
		drop()
		return nil, fmt.Errorf("health of task %s: %w", id, ErrClosed)
	}
	return out, nil
}

// forwardHealth sends a reader its statuses, without repeating one, until
// the task ends, ctx ends or the Runtime closes.
func (r *Runtime) forwardHealth(ctx context.Context, t *task, sub *healthSub) {
	var last string
	sent := false
	final := false
	for {
		for _, s := range sub.take() {
			if sent && s == last {
				continue
			}
			select {
			case sub.out <- s:
				last, sent = s, true
			case <-ctx.Done():
				return
			case <-r.closed:
				return
			}
		}
		if final {
			return
		}
		select {
		case <-sub.wake:
		case <-t.done:
			// The statuses reported before the end are queued: send them,
			// then close.
			final = true
		case <-ctx.Done():
			return
		case <-r.closed:
			return
		}
	}
}
