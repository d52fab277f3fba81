package scheduler

import (
	"time"

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
	// recentFailures counts, per service, its tasks that failed on this
	// node within failureWindow.
	recentFailures map[string]int
}

// A node where a service failed failureLimit times within failureWindow
// is tried last for that service, as in Swarm: a broken node should not
// keep eating a service's tasks while healthy nodes are free.
const (
	failureLimit  = 5
	failureWindow = 5 * time.Minute
)

// failing reports whether the service keeps failing on this node.
func (n *nodeInfo) failing(serviceID string) bool {
	return n.recentFailures[serviceID] >= failureLimit
}

// add counts t, placed on n and meant to run, and what it holds.
func (n *nodeInfo) add(t *api.Task) {
	n.serviceTasks[t.ServiceID]++
	n.total++
	n.hold(t)
}

// hold takes what t holds on n, its reservations and host ports, until it
// has stopped: a task told to stop still runs over its grace period.
func (n *nodeInfo) hold(t *api.Task) {
	if r := t.Spec.Resources; r != nil && r.Reservations != nil {
		n.free.NanoCPUs -= r.Reservations.NanoCPUs
		n.free.MemoryBytes -= r.Reservations.MemoryBytes
	}
	for _, p := range hostPorts(t) {
		n.usedPorts[p] = true
	}
}

// nodeInfos reads the nodes and the tasks placed on them, as of now.
func nodeInfos(tx *state.ReadTx) map[string]*nodeInfo { return nodeInfosAt(tx, time.Now()) }

// nodeInfosAt reads the nodes, the tasks placed on them that have not
// stopped, and the tasks that failed on them within failureWindow before
// now.
func nodeInfosAt(tx *state.ReadTx, now time.Time) map[string]*nodeInfo {
	out := map[string]*nodeInfo{}
	for _, n := range tx.Nodes() {
		out[n.ID] = &nodeInfo{
			Node:           n,
			serviceTasks:   map[string]int{},
			free:           n.Description.Resources,
			usedPorts:      map[string]bool{},
			recentFailures: map[string]int{},
		}
	}
	for _, t := range tx.Tasks() {
		if n := out[t.NodeID]; n != nil && (t.Status.State == api.TaskStateFailed || t.Status.State == api.TaskStateRejected) &&
			now.Sub(t.Status.Timestamp) < failureWindow {
			n.recentFailures[t.ServiceID]++
		}
		if t.NodeID == "" || t.Status.State.Terminal() || t.Status.State < api.TaskStateAssigned {
			continue
		}
		n := out[t.NodeID]
		switch {
		case n == nil:
		case t.Live():
			n.add(t)
		default:
			// Told to stop but not stopped yet: it still holds its
			// resources and host ports, though it no longer counts
			// as one of its service's tasks on the node.
			n.hold(t)
		}
	}
	return out
}
