// Package updater rolls a service's tasks over to its current spec: batch
// by batch (parallelism, delay), stop-first or start-first, watching each
// new task for the monitor window, and pausing, continuing or rolling back
// when tasks fail, as Swarm's update_config says. Its progress lives in the
// service's UpdateStatus and the tasks themselves, so a new leader resumes
// an update where the old one left it.
package updater

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

// Updater is the rolling-update loop. It runs on the leader only.
type Updater struct {
	Store    *state.Store
	Proposer state.Proposer
	Clock    clock.Clock
	Logger   *slog.Logger
	// ObservePass, if set, is told how long each pass took (metrics).
	ObservePass func(time.Duration)
}

// Run drives updates until ctx ends or a write fails.
func (u *Updater) Run(ctx context.Context) error {
	loop := controller.Loop{
		ObservePass: u.ObservePass,
		Store:       u.Store,
		Clock:       u.Clock,
		All: func(tx *state.ReadTx) []string {
			var ids []string
			for _, s := range tx.Services() {
				ids = append(ids, s.ID)
			}
			return ids
		},
		// A node's state matters to the updates of the services with
		// tasks on it (a task on a down node is not waited for).
		NodeTouched: func(tx *state.ReadTx, nodeID string) []string {
			var ids []string
			for _, t := range tx.TasksByNode(nodeID) {
				ids = append(ids, t.ServiceID)
			}
			return ids
		},
		Touched: func(ev api.Event) string {
			switch ev.Type {
			case api.EventService:
				if ev.Action != api.ActionRemove {
					return ev.ID
				}
			case api.EventTask:
				return ev.Task.ServiceID
			}
			return ""
		},
		Pass: u.pass,
	}
	return loop.Run(ctx)
}

// pass looks at each dirty service once and writes what it decides.
func (u *Updater) pass(ctx context.Context, dirty map[string]bool, wakes map[string]time.Time) error {
	tx := u.Store.Read()
	// A pass asks about the same few nodes once per task: each is looked
	// up once.
	seen := map[string]api.SlotNode{}
	nodes := func(id string) api.SlotNode {
		if id == "" {
			return api.SlotNode{}
		}
		d, ok := seen[id]
		if !ok {
			n := tx.Node(id)
			d = api.SlotNode{Down: n == nil || n.Status.State == api.NodeStateDown,
				Drained: n != nil && n.Spec.Availability == api.AvailabilityDrain}
			seen[id] = d
		}
		return d
	}
	now := u.Clock.Now()
	var ops, status []state.Op
	var names []string
	started := 0
	for id := range dirty {
		svc := tx.Service(id)
		if svc == nil || svc.Spec.Mode.IsJob() {
			// A job has no rolling update: the orchestrator runs it
			// again when its spec changes.
			delete(wakes, id)
			continue
		}
		p := decideWithin(svc, tx.TasksByService(id), nodes, now, maxSlotsPerPass-started)
		started += p.started
		if p.deferred {
			// It may have got no slot, so no commit of its own to wake
			// it: look again at once, past this pass's batch.
			p.wakeAt(now)
		}
		if p.wake.IsZero() {
			delete(wakes, id)
		} else {
			wakes[id] = p.wake
		}
		ops = append(ops, p.ops...)
		if p.service != nil {
			// The status write must not undo a change made meanwhile.
			status = append(status, state.Op{Kind: state.OpUpdateService, Service: p.service, ExpectVersion: svc.Version})
			names = append(names, svc.Spec.Name)
		}
	}
	if err := u.writeStatus(ctx, now, status, names); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	// Bounded commands: a pass over many services, or a batch of
	// parallelism 0 (all at once), may hold many ops.
	opErrs, err := state.ProposeBatches(ctx, u.Proposer, now, ops)
	// An op that lost a race (its task gone, or its service's spec moved
	// on) is decided again on the next pass; others are worth a trace.
	for i, e := range opErrs {
		if e != nil && !errors.Is(e, state.ErrNotFound) && !errors.Is(e, state.ErrVersionConflict) {
			u.logger().Debug("updater write skipped", "op", ops[i].Kind, "err", e)
		}
	}
	return err
}

// writeStatus writes the update status of many services in bounded
// commands, not one Raft round trip each: each write is checked against
// its service's version on its own, so a conflict on one (a change made
// meanwhile, decided again on the next pass) does not hold up the others.
func (u *Updater) writeStatus(ctx context.Context, now time.Time, ops []state.Op, names []string) error {
	opErrs, err := state.ProposeBatches(ctx, u.Proposer, now, ops)
	if err != nil {
		return err
	}
	for i, e := range opErrs {
		if e != nil && !errors.Is(e, state.ErrVersionConflict) && !errors.Is(e, state.ErrNotFound) {
			u.logger().Warn("update status write failed", "service", names[i], "err", e)
		}
		if st := ops[i].Service.UpdateStatus; st != nil && e == nil {
			u.logger().Info("service update", "service", names[i], "state", st.State, "message", st.Message)
		}
	}
	return nil
}

func (u *Updater) logger() *slog.Logger {
	if u.Logger == nil {
		return slog.Default()
	}
	return u.Logger
}
