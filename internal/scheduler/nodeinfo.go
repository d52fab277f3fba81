package scheduler

import (
	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// nodeInfo is a node with what the scheduler has placed on it, updated as
// a pass places tasks so one batch spreads evenly.
type nodeInfo struct {
	*api.Node
	serviceTasks map[string]int
	total        int
	free         api.Resources
	usedPorts    map[string]bool
}

func (n *nodeInfo) add(t *api.Task) {
	n.serviceTasks[t.ServiceID]++
	n.total++
	if r := t.Spec.Resources; r != nil && r.Reservations != nil {
		n.free.NanoCPUs -= r.Reservations.NanoCPUs
		n.free.MemoryBytes -= r.Reservations.MemoryBytes
	}
	for _, p := range hostPorts(t) {
		n.usedPorts[p] = true
	}
}

// nodeInfos reads the nodes and the live tasks placed on them.
func nodeInfos(tx *state.ReadTx) map[string]*nodeInfo {
	out := map[string]*nodeInfo{}
	for _, n := range tx.Nodes() {
		out[n.ID] = &nodeInfo{
			Node:         n,
			serviceTasks: map[string]int{},
			free:         n.Description.Resources,
			usedPorts:    map[string]bool{},
		}
	}
	for _, t := range tx.Tasks() {
		if t.NodeID == "" || !t.Live() || t.Status.State < api.TaskStateAssigned {
			continue
		}
		if n := out[t.NodeID]; n != nil {
			n.add(t)
		}
	}
	return out
}
