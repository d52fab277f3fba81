package orchestrator

import (
	"fmt"
	"sort"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// reap plans the deletion of tasks that are done: removed tasks that have
// stopped, and ended tasks beyond the history limit of their slot. A task
// whose node was removed from the cluster is marked orphaned first: no
// agent will ever report it stopped.
func reap(p *plan, tasks []*api.Task, nodes nodeSet, historyLimit int) {
	bySlot := map[string][]*api.Task{}
	for _, t := range tasks {
		if _, ok := nodes[t.NodeID]; !ok && t.NodeID != "" && !t.Status.State.Terminal() {
			p.ops = append(p.ops, state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: t.ID,
				Status: api.TaskStatus{State: api.TaskStateOrphaned, Timestamp: p.now, Message: "node removed from the cluster"}}})
			continue
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
