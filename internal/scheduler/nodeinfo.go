package scheduler

import (
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// nodeInfo is a node with what the scheduler has placed on it, updated as
// a pass places tasks so one batch spreads evenly. Node is nil for a node
// the store does not hold (yet) that tasks name: such a node keeps their
// counts but takes no task.
type nodeInfo struct {
	*api.Node
	serviceTasks map[string]int
	total        int
	free         api.Resources
	// usedPorts counts the tasks holding each host port.
	usedPorts map[string]int
	// failures are, per service, the times its tasks on this node failed
	// (by task ID); failing counts those within failureWindow before now.
	failures map[string]map[string]time.Time
	now      time.Time
}

func newNodeInfo(n *api.Node) *nodeInfo {
	ni := &nodeInfo{Node: n, serviceTasks: map[string]int{}, usedPorts: map[string]int{}, failures: map[string]map[string]time.Time{}}
	if n != nil {
		ni.free = n.Description.Resources
	}
	return ni
}

// A node where a service failed failureLimit times within failureWindow
// is tried last for that service, as in Swarm: a broken node should not
// keep eating a service's tasks while healthy nodes are free.
const (
	failureLimit  = 5
	failureWindow = 5 * time.Minute
)

// failing reports whether the service keeps failing on this node.
func (n *nodeInfo) failing(serviceID string) bool { return n.recentFailures(serviceID) >= failureLimit }

// recentFailures counts the service's tasks that failed on this node
// within failureWindow before now.
func (n *nodeInfo) recentFailures(serviceID string) int {
	c := 0
	for _, at := range n.failures[serviceID] {
		if n.now.Sub(at) < failureWindow {
			c++
		}
	}
	return c
}

// add counts t, placed on n and meant to run, and what it holds.
func (n *nodeInfo) add(t *api.Task) {
	n.serviceTasks[t.ServiceID]++
	n.total++
	n.hold(t)
}

// hold takes what t holds on n, its reservations and host ports, until it
// has stopped: a task told to stop still runs over its grace period.
func (n *nodeInfo) hold(t *api.Task) { n.holdSign(t, 1) }

// holdSign takes (sign 1) or gives back (sign -1) what t holds.
func (n *nodeInfo) holdSign(t *api.Task, sign int) {
	if r := t.Spec.Resources; r != nil && r.Reservations != nil {
		n.free.NanoCPUs -= int64(sign) * r.Reservations.NanoCPUs
		n.free.MemoryBytes -= int64(sign) * r.Reservations.MemoryBytes
	}
	for _, p := range hostPorts(t) {
		if n.usedPorts[p] += sign; n.usedPorts[p] <= 0 {
			delete(n.usedPorts, p)
		}
	}
}

// count adds (sign 1) or takes back (sign -1) what task t, as the store
// has it, means for n: a failure, a task of its service, what it holds.
func (n *nodeInfo) count(t *api.Task, sign int) {
	if t.Status.State == api.TaskStateFailed || t.Status.State == api.TaskStateRejected {
		f := n.failures[t.ServiceID]
		if sign > 0 {
			if f == nil {
				f = map[string]time.Time{}
				n.failures[t.ServiceID] = f
			}
			f[t.ID] = t.Status.Timestamp
		} else if delete(f, t.ID); len(f) == 0 {
			delete(n.failures, t.ServiceID)
		}
	}
	if !holds(t) {
		return
	}
	if t.Live() {
		if n.serviceTasks[t.ServiceID] += sign; n.serviceTasks[t.ServiceID] == 0 {
			delete(n.serviceTasks, t.ServiceID)
		}
		n.total += sign
	}
	n.holdSign(t, sign)
}

// holds reports whether t, placed and not stopped, holds room on its node.
func holds(t *api.Task) bool {
	return t.NodeID != "" && !t.Status.State.Terminal() && t.Status.State >= api.TaskStateAssigned
}

// setNode replaces the node's record (nil: gone from the store), keeping
// what its tasks hold.
func (n *nodeInfo) setNode(node *api.Node) {
	if n.Node != nil {
		n.free.NanoCPUs -= n.Node.Description.Resources.NanoCPUs
		n.free.MemoryBytes -= n.Node.Description.Resources.MemoryBytes
	}
	if node != nil {
		n.free.NanoCPUs += node.Description.Resources.NanoCPUs
		n.free.MemoryBytes += node.Description.Resources.MemoryBytes
	}
	n.Node = node
}

// nodeInfos reads the nodes and the tasks placed on them, as of now.
func nodeInfos(tx *state.ReadTx) map[string]*nodeInfo { return nodeInfosAt(tx, time.Now()) }

// nodeInfosAt reads the nodes, the tasks placed on them that have not
// stopped, and the tasks that failed on them within failureWindow before
// now, in one full scan. The scheduler keeps the same from events
// (view); this is the reference its property test holds it to.
func nodeInfosAt(tx *state.ReadTx, now time.Time) map[string]*nodeInfo {
	out := map[string]*nodeInfo{}
	for _, n := range tx.Nodes() {
		out[n.ID] = newNodeInfo(n)
		out[n.ID].now = now
	}
	for _, t := range tx.Tasks() {
		if n := out[t.NodeID]; n != nil && (t.Status.State == api.TaskStateFailed || t.Status.State == api.TaskStateRejected) &&
			now.Sub(t.Status.Timestamp) < failureWindow {
			if n.failures[t.ServiceID] == nil {
				n.failures[t.ServiceID] = map[string]time.Time{}
			}
			n.failures[t.ServiceID][t.ID] = t.Status.Timestamp
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
