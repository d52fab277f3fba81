package orchestrator

import (
	"fmt"
	"sort"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// reap plans the deletion of tasks that are done: removed tasks that have
// stopped, and ended tasks beyond the history limit of their slot. A task
// whose node was removed from the cluster is marked orphaned first: no
// agent will ever report it stopped. So is one that could have run
// (assigned to running) on a node down for the orphan period, as
// swarmkit's dispatcher does: it then ends, and goes with the history.
func reap(p *plan, tasks []*api.Task, nodes nodeSet, historyLimit int, orphanAfter time.Duration) {
	bySlot := map[string][]*api.Task{}
	for _, t := range tasks {
		n, ok := nodes[t.NodeID]
		if !ok && t.NodeID != "" && !t.Status.State.Terminal() {
			p.orphan(t, "node removed from the cluster")
			continue
		}
		if ok && n.Status.State == api.NodeStateDown && t.Status.State >= api.TaskStateAssigned && t.Status.State <= api.TaskStateRunning {
			since := downSince(n)
			if at := since.Add(orphanAfter); p.now.Before(at) {
				p.wakeAt(at)
			} else {
				p.orphan(t, fmt.Sprintf("node down since %s, more than %s", since.UTC().Format(time.RFC3339), orphanAfter))
				continue
			}
		}
		if t.DesiredState >= api.TaskStateRemove && (t.Status.State.Terminal() || t.Status.State < api.TaskStateAssigned) {
			p.ops = append(p.ops, state.Op{Kind: state.OpDeleteTask, ID: t.ID})
			continue
		}
		if t.Status.State.Terminal() {
			key := "node/" + t.NodeID
			if t.Slot != 0 {
				key = fmt.Sprintf("slot/%d", t.Slot)
			}
			bySlot[key] = append(bySlot[key], t)
		}
	}
	for _, ended := range bySlot {
		if len(ended) <= historyLimit {
			continue
		}
		sort.Slice(ended, func(i, j int) bool { return endedAt(ended[i]).After(endedAt(ended[j])) })
		for _, t := range ended[historyLimit:] {
			p.ops = append(p.ops, state.Op{Kind: state.OpDeleteTask, ID: t.ID})
		}
	}
}

func (p *plan) orphan(t *api.Task, why string) {
	p.ops = append(p.ops, state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: t.ID,
		Status: api.TaskStatus{State: api.TaskStateOrphaned, Timestamp: p.now, Message: why}}})
}

// downSince is when node n went down: as the store recorded it, or, for a
// node marked down before it did, its last write.
func downSince(n *api.Node) time.Time {
	if n.Status.DownSince != nil {
		return *n.Status.DownSince
	}
	return n.UpdatedAt
}
