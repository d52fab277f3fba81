package orchestrator

import (
	"sort"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// reap plans the deletion of tasks that are done: removed tasks that have
// stopped, and ended tasks beyond the history limit of their slot.
func reap(p *plan, tasks []*api.Task, historyLimit int) {
	bySlot := map[string][]*api.Task{}
	for _, t := range tasks {
		if t.DesiredState >= api.TaskStateRemove && (t.Status.State.Terminal() || t.Status.State < api.TaskStateAssigned) {
			p.ops = append(p.ops, state.Op{Kind: state.OpDeleteTask, ID: t.ID})
			continue
		}
		if t.Status.State.Terminal() {
			key := t.NodeID
			if t.Slot != 0 {
				key = string(rune(0)) + uitoa(t.Slot)
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

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
