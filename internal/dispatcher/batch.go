package dispatcher

import (
	"context"
	"slices"
	"sync"

	"github.com/shoalproject/shoal/internal/state"
)

// maxReportsInFlight bounds the shared report entries proposed at once.
// While they are in flight, the reports that arrive queue up and go out
// together in the next: under load, one Raft entry carries many
// sessions' reports (swarmkit's dispatcher batches its task updates the
// same way); when idle, a report goes out at once, alone. More than one
// in flight lets Raft write the next entry while the last is applied.
const maxReportsInFlight = 2

// reportBatch is one session's vetted reports, waiting for their entry.
type reportBatch struct {
	ops  []state.Op
	done chan reportResult
}

type reportResult struct {
	opErrs []error // one per op of the batch, nil for those applied
	err    error
}

// reportQueue coalesces the sessions' report batches into shared Raft
// entries of at most state.MaxOpsPerCommand ops (a batch is never split:
// it has at most api.MaxReportBatch). Its proposers run only while there
// is something to send.
type reportQueue struct {
	mu       sync.Mutex
	waiting  []*reportBatch
	inFlight int
}

// proposeReports queues ops and waits for the entry that carries them. It returns
// the error of each op, or why the entry failed. A caller whose ctx ends
// stops waiting; its reports may still be applied, as with any write
// given up on.
func (d *Dispatcher) proposeReports(ctx context.Context, ops []state.Op) ([]error, error) {
	if err := ctx.Err(); err != nil {
		// Given up before it was queued: nothing is written.
		return nil, err
	}
	q := &d.reports
	b := &reportBatch{ops: ops, done: make(chan reportResult, 1)}
	q.mu.Lock()
	q.waiting = append(q.waiting, b)
	start := q.inFlight < maxReportsInFlight
	if start {
		q.inFlight++
	}
	q.mu.Unlock()
	if start {
		go d.sendReports()
	}
	select {
	case r := <-b.done:
		return r.opErrs, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sendReports proposes the waiting batches, as many entries as it takes,
// and returns when none wait.
func (d *Dispatcher) sendReports() {
	q := &d.reports
	for {
		q.mu.Lock()
		n, ops := 0, 0
		for n < len(q.waiting) && (n == 0 || ops+len(q.waiting[n].ops) <= state.MaxOpsPerCommand) {
			ops += len(q.waiting[n].ops)
			n++
		}
		if n == 0 {
			q.inFlight--
			q.mu.Unlock()
			return
		}
		// Copied out and cleared, so that the queue's array does not keep
		// answered batches alive.
		batches := slices.Clone(q.waiting[:n])
		clear(q.waiting[:n])
		if q.waiting = q.waiting[n:]; len(q.waiting) == 0 {
			q.waiting = nil
		}
		q.mu.Unlock()
		cmd := &state.Command{Ops: make([]state.Op, 0, ops)}
		for _, b := range batches {
			cmd.Ops = append(cmd.Ops, b.ops...)
		}
		// The entry is the dispatcher's, not one caller's: it carries
		// others' reports, so no one caller's context may cancel it; the
		// dispatcher's does (it stops with the leadership).
		d.mu.Lock()
		dctx := d.ctx
		d.mu.Unlock()
		var res state.Result
		err := ErrNotRunning
		if dctx != nil {
			res, err = d.Proposer.Propose(dctx, cmd)
		}
		i := 0
		for _, b := range batches {
			r := reportResult{err: err}
			if err == nil {
				r.opErrs = make([]error, len(b.ops))
				if res.OpErrs != nil {
					copy(r.opErrs, res.OpErrs[i:i+len(b.ops)])
				}
			}
			i += len(b.ops)
			b.done <- r
		}
	}
}
