// Package orchestrator keeps every service at its desired tasks: it makes
// tasks for missing replicas and global nodes, replaces tasks that end as
// the restart policy says, retires the tasks of removed slots, nodes and
// services, and reaps ended tasks beyond the history limit.
package orchestrator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

// maxOpsPerCommand bounds one Raft entry; bigger plans are split.
const maxOpsPerCommand = 1000

// Orchestrator is the reconcile loop. It runs on the leader only.
type Orchestrator struct {
	Store    *state.Store
	Proposer state.Proposer
	Clock    clock.Clock
	Logger   *slog.Logger
	// HistoryLimit is how many ended tasks a slot keeps; 0 means 5.
	HistoryLimit int
}

// Run reconciles until ctx ends or a write fails because this manager lost
// leadership.
func (o *Orchestrator) Run(ctx context.Context) error {
	tx, sub := o.Store.Subscribe()
	defer sub.Close()

	dirty := map[string]bool{}
	markAll := func(tx *state.ReadTx) {
		for _, s := range tx.Services() {
			dirty[s.ID] = true
		}
		for _, t := range tx.Tasks() {
			dirty[t.ServiceID] = true
		}
	}
	markAll(tx)
	wakes := map[string]time.Time{}
	var timer clock.Timer
	var timerC <-chan time.Time
	for {
		if len(dirty) > 0 {
			if err := o.pass(ctx, dirty, wakes); err != nil {
				return err
			}
			dirty = map[string]bool{}
			if timer != nil {
				timer.Stop()
				timer, timerC = nil, nil
			}
			if at, ok := earliest(wakes); ok {
				timer = o.Clock.NewTimer(at.Sub(o.Clock.Now()))
				timerC = timer.C()
			}
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return ctx.Err()
		case <-timerC:
			timer, timerC = nil, nil
			now := o.Clock.Now()
			for id, at := range wakes {
				if !at.After(now) {
					dirty[id] = true
					delete(wakes, id)
				}
			}
		case <-sub.Ready():
			evs, err := sub.Drain()
			if err != nil {
				return err
			}
			for _, ev := range evs {
				switch ev.Type {
				case api.EventService:
					dirty[ev.ID] = true
				case api.EventTask:
					dirty[ev.Task.ServiceID] = true
				case api.EventNode, state.EventReset:
					markAll(o.Store.Read())
				}
			}
		}
	}
}

func earliest(m map[string]time.Time) (time.Time, bool) {
	var at time.Time
	for _, t := range m {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	return at, !at.IsZero()
}

// pass reconciles the dirty services against one read of the store and
// writes the result.
func (o *Orchestrator) pass(ctx context.Context, dirty map[string]bool, wakes map[string]time.Time) error {
	tx := o.Store.Read()
	nodes := nodeSet{}
	for _, n := range tx.Nodes() {
		nodes[n.ID] = n
	}
	limit := o.HistoryLimit
	if limit <= 0 {
		limit = api.DefaultTaskHistoryLimit
	}
	now := o.Clock.Now()
	var ops []state.Op
	for id := range dirty {
		p := &plan{now: now}
		tasks := tx.TasksByService(id)
		if svc := tx.Service(id); svc != nil {
			reconcileService(p, svc, tasks, nodes)
		} else {
			reconcileRemoved(p, tasks)
		}
		reap(p, tasks, limit)
		ops = append(ops, p.ops...)
		if !p.wake.IsZero() {
			wakes[id] = p.wake
		} else {
			delete(wakes, id)
		}
	}
	for len(ops) > 0 {
		n := min(len(ops), maxOpsPerCommand)
		res, err := o.Proposer.Propose(ctx, &state.Command{Time: now, Ops: ops[:n]})
		if err != nil {
			return err
		}
		for i, e := range res.OpErrs {
			if e != nil && !errors.Is(e, state.ErrNotFound) {
				o.logger().Debug("orchestrator write skipped", "op", ops[i].Kind, "err", e)
			}
		}
		ops = ops[n:]
	}
	return nil
}

func (o *Orchestrator) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}
