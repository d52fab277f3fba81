package state

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-memdb"
	"github.com/shoalproject/shoal/api"
)

// ReadTx is a consistent, read-only view of the store. It never blocks
// writers and stays valid while they go on.
type ReadTx struct {
	txn *memdb.Txn
	// tasks is the task table at the same index.
	tasks taskTable
	index uint64
}

// Index is the Raft index the view reflects.
func (r *ReadTx) Index() uint64 { return r.index }

// Service returns the service with that ID, or nil.
func (r *ReadTx) Service(id string) *api.Service {
	raw, _ := r.txn.First(tableServices, "id", id)
	if raw == nil {
		return nil
	}
	return raw.(*api.Service)
}

// ServiceByName returns the service with that name (case-insensitive), or nil.
func (r *ReadTx) ServiceByName(name string) *api.Service {
	raw, _ := r.txn.First(tableServices, "name", name)
	if raw == nil {
		return nil
	}
	return raw.(*api.Service)
}

// FindService resolves a reference the way the docker CLI does: a full ID,
// an exact name, or a unique ID prefix.
func (r *ReadTx) FindService(ref string) (*api.Service, error) {
	if s := r.Service(ref); s != nil {
		return s, nil
	}
	if s := r.ServiceByName(ref); s != nil {
		return s, nil
	}
	var found *api.Service
	for _, s := range r.Services() {
		if strings.HasPrefix(s.ID, ref) && ref != "" {
			if found != nil {
				return nil, fmt.Errorf("%w: service %q matches more than one ID", ErrAmbiguous, ref)
			}
			found = s
		}
	}
	if found == nil {
		return nil, fmt.Errorf("service %s: %w", ref, ErrNotFound)
	}
	return found, nil
}

// Services returns every service.
func (r *ReadTx) Services() []*api.Service {
	it, err := r.txn.Get(tableServices, "id")
	if err != nil {
		return nil
	}
	var out []*api.Service
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*api.Service))
	}
	return out
}

// Task returns the task with that ID, or nil.
func (r *ReadTx) Task(id string) *api.Task { return r.tasks.get(id) }

// FindTask resolves a full task ID or a unique prefix.
func (r *ReadTx) FindTask(ref string) (*api.Task, error) {
	if t := r.Task(ref); t != nil {
		return t, nil
	}
	var found []*api.Task
	if ref != "" {
		found = r.tasks.withPrefix(ref)
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("task %s: %w", ref, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: task %q matches more than one ID", ErrAmbiguous, ref)
}

// Tasks returns every task, by ID.
func (r *ReadTx) Tasks() []*api.Task { return r.tasks.all() }

// TasksByService returns the tasks of one service, by ID.
func (r *ReadTx) TasksByService(serviceID string) []*api.Task {
	return r.tasks.ofService(serviceID)
}

// HasTasksOfService reports whether some task of the service is stored,
// without listing them: one lookup in the slot references.
func (r *ReadTx) HasTasksOfService(serviceID string) bool {
	found := false
	r.tasks.bySlot.AscendGreaterOrEqual(slotRef{service: serviceID}, func(ref slotRef) bool {
		found = ref.service == serviceID
		return false
	})
	return found
}

// TasksByNode returns the tasks placed on one node, by ID.
func (r *ReadTx) TasksByNode(nodeID string) []*api.Task {
	return r.tasks.under(r.tasks.byNode, nodeID, nil)
}

// TasksBySlot returns the tasks of one replicated slot (nodeID empty) or of
// one global service's node (slot 0), by ID.
func (r *ReadTx) TasksBySlot(serviceID string, slot uint64, nodeID string) []*api.Task {
	from := slotRef{service: serviceID, slot: slot}
	if slot == 0 {
		from.node = nodeID
	}
	return r.tasks.bySlotTasks(from, false)
}

// Node returns the node with that ID, or nil.
func (r *ReadTx) Node(id string) *api.Node {
	raw, _ := r.txn.First(tableNodes, "id", id)
	if raw == nil {
		return nil
	}
	return raw.(*api.Node)
}

// NodeRemoved reports whether an operator removed node id
// (OpRemoveNode): it may never register again.
func (r *ReadTx) NodeRemoved(id string) bool {
	raw, _ := r.txn.First(tableHints, "id", hintRemovedPfx+id)
	return raw != nil
}

// FindNode resolves a node ID, unique ID prefix or hostname.
func (r *ReadTx) FindNode(ref string) (*api.Node, error) {
	if n := r.Node(ref); n != nil {
		return n, nil
	}
	var found []*api.Node
	for _, n := range r.Nodes() {
		if n.Description.Hostname == ref || (ref != "" && strings.HasPrefix(n.ID, ref)) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("node %s: %w", ref, ErrNotFound)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: node %q matches %d nodes", ErrAmbiguous, ref, len(found))
}

// Nodes returns every node.
func (r *ReadTx) Nodes() []*api.Node {
	it, err := r.txn.Get(tableNodes, "id")
	if err != nil {
		return nil
	}
	var out []*api.Node
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*api.Node))
	}
	return out
}
