package agent

import (
	"context"
	"sync"

	"github.com/shoalproject/shoal/api"
)

// reporter queues task status reports and sends them in batches, in order.
// Reports survive a broken session: they are sent on the next one. A
// batch holds at most api.MaxReportBatch reports, and texts are cut to
// api.MaxStatusText: the managers refuse more.
type reporter struct {
	mu    sync.Mutex
	queue []api.TaskReport
	// added counts the reports queued so far, sent those the managers
	// took: the queue is in order, so report n was delivered once
	// sent >= n.
	added, sent uint64
	wake        chan struct{}
	// due are the calls waiting for a report to be delivered
	// (whenDelivered).
	due []dueCall
}

// dueCall is fn, to be called once report n is delivered.
type dueCall struct {
	n  uint64
	fn func()
}

func newReporter() *reporter { return &reporter{wake: make(chan struct{}, 1)} }

// add queues rep and returns its number (see delivered).
func (r *reporter) add(rep api.TaskReport) uint64 {
	rep.Status.Message = api.TrimStatusText(rep.Status.Message)
	rep.Status.Err = api.TrimStatusText(rep.Status.Err)
	r.mu.Lock()
	r.queue = append(r.queue, rep)
	r.added++
	n := r.added
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return n
}

// delivered reports whether the managers took report n.
func (r *reporter) delivered(n uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sent >= n
}

// whenDelivered calls fn once report n is delivered: at once if it is,
// else from the sending loop after the batch that delivers it, with no
// lock held.
func (r *reporter) whenDelivered(n uint64, fn func()) {
	r.mu.Lock()
	if r.sent < n {
		r.due = append(r.due, dueCall{n, fn})
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	fn()
}

// delivery records n more reports as delivered and returns the calls now
// due; r.mu is held.
func (r *reporter) delivery(n int) []func() {
	r.sent += uint64(n)
	var fns []func()
	kept := r.due[:0]
	for _, d := range r.due {
		if d.n <= r.sent {
			fns = append(fns, d.fn)
		} else {
			kept = append(kept, d)
		}
	}
	r.due = kept
	return fns
}

// send delivers queued reports on sess until ctx ends or a send fails. A
// failed batch goes back to the front of the queue.
func (r *reporter) send(ctx context.Context, sess Session) error {
	for {
		r.mu.Lock()
		batch := r.queue[:min(len(r.queue), api.MaxReportBatch)]
		r.queue = r.queue[len(batch):]
		r.mu.Unlock()
		if len(batch) > 0 {
			if err := sess.Report(ctx, batch); err != nil {
				r.mu.Lock()
				r.queue = append(batch[:len(batch):len(batch)], r.queue...)
				r.mu.Unlock()
				return err
			}
			r.mu.Lock()
			due := r.delivery(len(batch))
			r.mu.Unlock()
			for _, fn := range due {
				fn()
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
