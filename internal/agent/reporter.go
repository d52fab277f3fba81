package agent

import (
	"context"
	"sync"

	"github.com/shoalproject/shoal/api"
)

// reporter queues task status reports and sends them in batches, in order.
// Reports survive a broken session: they are sent on the next one.
type reporter struct {
	mu    sync.Mutex
	queue []api.TaskReport
	wake  chan struct{}
}

func newReporter() *reporter { return &reporter{wake: make(chan struct{}, 1)} }

func (r *reporter) add(rep api.TaskReport) {
	r.mu.Lock()
	r.queue = append(r.queue, rep)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// send delivers queued reports on sess until ctx ends or a send fails. A
// failed batch goes back to the front of the queue.
func (r *reporter) send(ctx context.Context, sess Session) error {
	for {
		r.mu.Lock()
		batch := r.queue
		r.queue = nil
		r.mu.Unlock()
		if len(batch) > 0 {
			if err := sess.Report(ctx, batch); err != nil {
				r.mu.Lock()
				r.queue = append(batch, r.queue...)
				r.mu.Unlock()
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.wake:
		}
	}
}
