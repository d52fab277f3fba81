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
	"github.com/shoalproject/shoal/internal/controller"
	"github.com/shoalproject/shoal/internal/state"
)

// maxCreatesPerPass bounds the tasks one pass makes, over all the
// services it looks at, as Kubernetes' replica set controller makes at
// most 500 pods per sync: a large service, or a stack of many, never
// needs all its new tasks in memory, or in Raft, at once. The tasks made
// are events of their service, so the next pass, and the next batch,
// follows as soon as these are committed; a service that got none is
// woken at once.
const maxCreatesPerPass = 500

// Orchestrator is the reconcile loop. It runs on the leader only.
type Orchestrator struct {
	Store    *state.Store
	Proposer state.Proposer
	Clock    clock.Clock
	Logger   *slog.Logger
	// ObservePass, if set, is told how long each pass took (metrics).
	ObservePass func(time.Duration)
	// HistoryLimit is how many ended tasks a slot keeps; 0 means 5.
	HistoryLimit int
}

// Run reconciles until ctx ends or a write fails because this manager lost
// leadership.
func (o *Orchestrator) Run(ctx context.Context) error {
	loop := controller.Loop{
		ObservePass: o.ObservePass,
		Store:       o.Store,
		Clock:       o.Clock,
		// Services, and tasks whose service is gone (to retire them).
		All: func(tx *state.ReadTx) []string {
			var ids []string
			for _, s := range tx.Services() {
				ids = append(ids, s.ID)
			}
			for _, t := range tx.Tasks() {
				ids = append(ids, t.ServiceID)
			}
			return ids
		},
		NodeTouched: nodeTouched,
		Touched: func(ev api.Event) string {
			switch ev.Type {
			case api.EventService:
				return ev.ID
			case api.EventTask:
				return ev.Task.ServiceID
			}
			return ""
		},
		Pass: o.pass,
	}
	return loop.Run(ctx)
}

// nodeTouched returns the services a change to a node concerns: the
// global ones (a node that joins, leaves or changes may gain or lose their
// task), and those with tasks on it (down or drained, they are replaced).
// A replicated service without a task there is not affected: the
// scheduler, not the orchestrator, uses the new room.
func nodeTouched(tx *state.ReadTx, nodeID string) []string {
	var ids []string
	for _, s := range tx.Services() {
		if s.Spec.Mode.IsGlobal() {
			ids = append(ids, s.ID)
		}
	}
	for _, t := range tx.TasksByNode(nodeID) {
		ids = append(ids, t.ServiceID)
	}
	return ids
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
	orphanAfter := tx.OrphanAfter()
	now := o.Clock.Now()
	var ops []state.Op
	made := 0
	for id := range dirty {
		p := &plan{now: now, maxCreates: maxCreatesPerPass - made}
		tasks := tx.TasksByService(id)
		if svc := tx.Service(id); svc != nil {
			reconcileService(p, svc, tasks, nodes)
		} else {
			reconcileRemoved(p, tasks)
		}
		reap(p, tasks, nodes, limit, orphanAfter)
		ops = append(ops, p.ops...)
		made += p.creates
		if p.deferred {
			// Its tasks' commits may not touch it (it got none): look
			// again at once, past this pass's batch.
			p.wakeAt(now)
		}
		if !p.wake.IsZero() {
			wakes[id] = p.wake
		} else {
			delete(wakes, id)
		}
	}
	// Writes go out in bounded commands (a scale down of a large service
	// retires many tasks at once).
	opErrs, err := state.ProposeBatches(ctx, o.Proposer, now, ops)
	for i, e := range opErrs {
		if e != nil && !errors.Is(e, state.ErrNotFound) {
			o.logger().Debug("orchestrator write skipped", "op", ops[i].Kind, "err", e)
		}
	}
	return err
}

func (o *Orchestrator) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.Default()
	}
	return o.Logger
}
