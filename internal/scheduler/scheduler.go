// Package scheduler places pending tasks on nodes: a filter pipeline keeps
// the nodes that can run a task, a ranking spreads tasks (placement
// preferences, then fewest tasks of the service, then fewest tasks), and a
// task no node can take stays pending with the reason. It never moves a
// task that is placed.
package scheduler

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

// Scheduler is the placement loop. It runs on the leader only.
type Scheduler struct {
	Store    *state.Store
	Proposer state.Proposer
	Clock    clock.Clock
	Logger   *slog.Logger
	// ObservePass, if set, is told how long each pass took (metrics).
	ObservePass func(time.Duration)
}

// Run places pending tasks as they appear, and again when nodes change,
// until ctx ends or a write fails. It keeps its view of the cluster from
// the store's events: one full read when it starts (or the store is
// reset), then only changes.
func (s *Scheduler) Run(ctx context.Context) error {
	tx, sub := s.Store.Subscribe()
	defer sub.Close()
	v := newView(tx)
	work := true // first pass places whatever is pending already
	for {
		if work {
			start := time.Now()
			if err := s.pass(ctx, v); err != nil {
				return err
			}
			if s.ObservePass != nil {
				s.ObservePass(time.Since(start))
			}
			work = false
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.Ready():
		}
		evs, err := sub.Drain()
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.Type == state.EventReset {
				v = newView(s.Store.Read())
				work = true
				break
			}
			if v.apply(ev) {
				work = true
			}
		}
	}
}

// pass places every pending task it can.
func (s *Scheduler) pass(ctx context.Context, v *view) error {
	if len(v.pending) == 0 {
		return nil
	}
	pending := make([]*api.Task, 0, len(v.pending))
	for _, t := range v.pending {
		pending = append(pending, t)
	}
	ops := Place(pending, v.at(s.Clock.Now()))
	if len(ops) == 0 {
		return nil
	}
	for _, op := range ops {
		if op.Kind == state.OpAssignTask {
			v.assigned(v.pending[op.ID], op.NodeID)
		}
	}
	// Placements are small ops, but a backlog of pending tasks may be
	// large: they go out in bounded commands.
	opErrs, err := state.ProposeBatches(ctx, s.Proposer, s.Clock.Now(), ops)
	if err != nil {
		return err
	}
	// An op the store refused leaves the view guessing: it reads what the
	// store holds instead.
	var tx *state.ReadTx
	for i, e := range opErrs {
		if e != nil {
			if tx == nil {
				tx = s.Store.Read()
			}
			v.setTask(ops[i].ID, tx.Task(ops[i].ID))
		}
	}
	return nil
}

// attrValue is node n's value of a placement preference's attribute;
// nodes without it share the value "", as in Swarm.
func attrValue(n *api.Node, attr string) string {
	const nodeLabels, engineLabels = "node.labels.", "engine.labels."
	switch {
	case len(attr) > len(nodeLabels) && attr[:len(nodeLabels)] == nodeLabels:
		return n.Spec.Labels[attr[len(nodeLabels):]]
	case len(attr) > len(engineLabels) && attr[:len(engineLabels)] == engineLabels:
		return n.Description.EngineLabels[attr[len(engineLabels):]]
	case attr == "node.platform.os":
		return n.Description.Platform.OS
	case attr == "node.hostname":
		return n.Description.Hostname
	}
	return ""
}
