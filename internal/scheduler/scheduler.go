// Package scheduler places pending tasks on nodes: a filter pipeline keeps
// the nodes that can run a task, a ranking spreads tasks (placement
// preferences, then fewest tasks of the service, then fewest tasks), and a
// task no node can take stays pending with the reason. It never moves a
// task that is placed.
package scheduler

import (
	"context"
	"log/slog"
	"sort"

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
}

// Run places pending tasks as they appear, and again when nodes change,
// until ctx ends or a write fails.
func (s *Scheduler) Run(ctx context.Context) error {
	_, sub := s.Store.Subscribe()
	defer sub.Close()
	work := true // first pass places whatever is pending already
	for {
		if work {
			if err := s.pass(ctx); err != nil {
				return err
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
			switch ev.Type {
			case api.EventTask:
				if ev.Action != api.ActionRemove && ev.Task.Status.State <= api.TaskStatePending {
					work = true
				}
				// A task that ended frees room for a pending one.
				if ev.Task.Status.State.Terminal() {
					work = true
				}
			case api.EventNode, state.EventReset:
				work = true
			}
		}
	}
}

// pass places every pending task it can.
func (s *Scheduler) pass(ctx context.Context) error {
	tx := s.Store.Read()
	var pending []*api.Task
	for _, t := range tx.Tasks() {
		if t.Status.State == api.TaskStatePending && t.DesiredState <= api.TaskStateRunning {
			pending = append(pending, t)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	ops := Place(pending, nodeInfosAt(tx, s.Clock.Now()))
	if len(ops) == 0 {
		return nil
	}
	// Placements are small ops, but a backlog of pending tasks may be
	// large: they go out in bounded commands.
	_, err := state.ProposeBatches(ctx, s.Proposer, s.Clock.Now(), ops)
	return err
}

// Place decides a node for each pending task and returns the writes: an
// assignment, or the reason it stays pending when that reason changed.
func Place(pending []*api.Task, nodes map[string]*nodeInfo) []state.Op {
	// Services in a stable order, slots in order, so a batch fills evenly.
	sort.Slice(pending, func(i, j int) bool {
		if pending[i].ServiceID != pending[j].ServiceID {
			return pending[i].ServiceID < pending[j].ServiceID
		}
		return pending[i].Slot < pending[j].Slot
	})
	list := make([]*nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		list = append(list, n)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })

	p := newPipeline()
	var ops []state.Op
	var fit []*nodeInfo
	for _, t := range pending {
		p.setTask(t)
		fit = fit[:0]
		for _, n := range list {
			if p.check(n) {
				fit = append(fit, n)
			}
		}
		if len(fit) == 0 {
			reason := p.explain()
			if len(list) == 0 {
				reason = "no suitable node (no nodes in the cluster)"
			}
			if t.Status.Err != reason {
				ops = append(ops, state.Op{Kind: state.OpPendingReason, ID: t.ID, Message: reason})
			}
			continue
		}
		best := rank(t, fit, list)
		best.add(t)
		ops = append(ops, state.Op{Kind: state.OpAssignTask, ID: t.ID, NodeID: best.ID, Message: "scheduler assigned task to node"})
	}
	return ops
}

// rank picks the best node for t among fit: nodes where the service keeps
// failing last, then placement preferences (spread over label values),
// then fewest tasks of the service, then fewest tasks overall, then node
// ID for a stable choice.
func rank(t *api.Task, fit, all []*nodeInfo) *nodeInfo {
	var healthy []*nodeInfo
	for _, n := range fit {
		if !n.failing(t.ServiceID) {
			healthy = append(healthy, n)
		}
	}
	if len(healthy) > 0 {
		fit = healthy
	}
	if t.Spec.Placement != nil {
		for _, pref := range t.Spec.Placement.Preferences {
			fit = spread(t.ServiceID, pref.Spread, fit, all)
		}
	}
	best := fit[0]
	for _, n := range fit[1:] {
		a, b := n.serviceTasks[t.ServiceID], best.serviceTasks[t.ServiceID]
		if a < b || (a == b && n.total < best.total) {
			best = n
		}
	}
	return best
}

// spread keeps the nodes of fit whose value of the attribute holds the
// fewest tasks of the service across all nodes. Nodes without the
// attribute form one more group, as in Swarm.
func spread(serviceID, attr string, fit, all []*nodeInfo) []*nodeInfo {
	count := map[string]int{}
	for _, n := range all {
		count[attrValue(n.Node, attr)] += n.serviceTasks[serviceID]
	}
	min := -1
	for _, n := range fit {
		if c := count[attrValue(n.Node, attr)]; min < 0 || c < min {
			min = c
		}
	}
	var out []*nodeInfo
	for _, n := range fit {
		if count[attrValue(n.Node, attr)] == min {
			out = append(out, n)
		}
	}
	return out
}

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
