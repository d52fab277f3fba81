package scheduler

import (
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// view is the scheduler's picture of the cluster, kept up to date from the
// store's events so that a pass costs what it places, not the size of the
// cluster: each node with what its tasks hold (nodeInfo), and the tasks
// waiting for a node. It equals a full scan (nodeInfosAt) after any
// sequence of events; the property test holds it to that.
type view struct {
	nodes map[string]*nodeInfo
	// counted is the version of each task the nodes count.
	counted map[string]*api.Task
	// pending are the tasks to place: pending and meant to run.
	pending map[string]*api.Task
}

// newView builds the view from a full read.
func newView(tx *state.ReadTx) *view {
	v := &view{nodes: map[string]*nodeInfo{}, counted: map[string]*api.Task{}, pending: map[string]*api.Task{}}
	for _, n := range tx.Nodes() {
		v.setNode(n.ID, n)
	}
	for _, t := range tx.Tasks() {
		v.setTask(t.ID, t)
	}
	return v
}

// apply brings the view up to date with one event. It reports whether
// the event may let a pending task be placed, or change why it cannot:
// a new pending task, a node change, or a task that ended.
func (v *view) apply(ev api.Event) bool {
	switch ev.Type {
	case api.EventNode:
		n := ev.Node
		if ev.Action == api.ActionRemove {
			n = nil
		}
		v.setNode(ev.ID, n)
		return true
	case api.EventTask:
		t := ev.Task
		if ev.Action == api.ActionRemove {
			t = nil
		}
		old := v.counted[ev.ID]
		v.setTask(ev.ID, t)
		if t == nil {
			return false
		}
		return isPending(t) || (t.Status.State.Terminal() && (old == nil || !old.Status.State.Terminal()))
	}
	return false
}

func isPending(t *api.Task) bool {
	return t.Status.State == api.TaskStatePending && t.DesiredState <= api.TaskStateRunning
}

// setNode records node id as n (nil: removed).
func (v *view) setNode(id string, n *api.Node) {
	ni := v.nodes[id]
	if ni == nil {
		if n == nil {
			return
		}
		ni = newNodeInfo(nil)
		v.nodes[id] = ni
	}
	ni.setNode(n)
	if ni.gone() {
		delete(v.nodes, id)
	}
}

// setTask records task id as t (nil: removed): what its old version held
// is given back, what t holds taken.
func (v *view) setTask(id string, t *api.Task) {
	if old := v.counted[id]; old != nil {
		delete(v.counted, id)
		if ni := v.nodes[old.NodeID]; ni != nil {
			ni.count(old, -1)
			if ni.gone() {
				delete(v.nodes, old.NodeID)
			}
		}
	}
	delete(v.pending, id)
	if t == nil {
		return
	}
	if isPending(t) {
		v.pending[id] = t
	}
	if t.NodeID != "" && (holds(t) || t.Status.State == api.TaskStateFailed || t.Status.State == api.TaskStateRejected) {
		ni := v.nodes[t.NodeID]
		if ni == nil {
			ni = newNodeInfo(nil)
			v.nodes[t.NodeID] = ni
		}
		ni.count(t, 1)
		v.counted[id] = t
	}
}

// gone reports whether ni may be dropped: its node left the store and no
// task counts anything on it (with no node, free is minus what its tasks
// reserve).
func (ni *nodeInfo) gone() bool {
	return ni.Node == nil && ni.total == 0 && len(ni.usedPorts) == 0 && len(ni.failures) == 0 && ni.free == (api.Resources{})
}

// at sets the time failures are counted back from, and returns the nodes
// the store holds.
func (v *view) at(now time.Time) map[string]*nodeInfo {
	out := make(map[string]*nodeInfo, len(v.nodes))
	for id, ni := range v.nodes {
		ni.now = now
		if ni.Node != nil {
			out[id] = ni
		}
	}
	return out
}

// assigned records that a pass placed t on node, and counted it there
// (nodeInfo.add): the view holds it as assigned until the store's event
// for it replaces the guess.
func (v *view) assigned(t *api.Task, node string) {
	placed := *t
	placed.NodeID = node
	placed.Status.State = api.TaskStateAssigned
	delete(v.pending, t.ID)
	v.counted[t.ID] = &placed
}
