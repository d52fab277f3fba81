package state

import (
	"cmp"

	"github.com/google/btree"
	"github.com/hashicorp/go-memdb"
	"github.com/shoalproject/shoal/api"
)

// Task references: the tasks' node and slot indexes, kept beside go-memdb
// in two copy-on-write B-trees whose items name a task by its ID (issue 15).
//
// go-memdb's indexes hold the object itself, so every write of a task, a
// status report as much as a creation, was inserted again into each of
// them, copying a path of radix nodes per index. A reference changes only
// when a task's node or slot does (created, assigned, deleted): a status
// write touches go-memdb's id tree alone. And a reference is a few string
// headers that share the task's own strings, in B-tree nodes of many
// items, where a radix tree spends two nodes and two channels per key
// (about 430 bytes a key).
//
// The trees are persistent values like go-memdb's: a write transaction
// writes a clone (copy on write: the nodes it changes are copied, the
// others shared) that the store keeps when it commits, under its lock;
// every ReadTx reads a clone of its own, taken under the same lock as its
// go-memdb transaction, so both are at one index and a later write never
// changes what a view answers (TestTaskRefsEqualAFullScan).
type taskRefs struct {
	byNode *btree.BTreeG[nodeRef]
	bySlot *btree.BTreeG[slotRef]
}

// nodeRef is a task placed on a node.
type nodeRef struct{ node, id string }

// slotRef is a task of a service's slot: slot from 1 for a replicated
// service, 0 and its node for a global one (as slotKey).
type slotRef struct {
	service string
	slot    uint64
	node    string
	id      string
}

// refsDegree is the B-trees' degree: nodes of 15 to 31 items.
const refsDegree = 16

func newTaskRefs() taskRefs {
	return taskRefs{
		byNode: btree.NewG(refsDegree, func(a, b nodeRef) bool {
			if a.node != b.node {
				return a.node < b.node
			}
			return a.id < b.id
		}),
		bySlot: btree.NewG(refsDegree, func(a, b slotRef) bool {
			if c := cmp.Compare(a.service, b.service); c != 0 {
				return c < 0
			}
			if a.slot != b.slot {
				return a.slot < b.slot
			}
			if a.node != b.node {
				return a.node < b.node
			}
			return a.id < b.id
		}),
	}
}

// clone returns a copy that can be written, or read while r is written;
// calls are serialized by the store's lock.
func (r taskRefs) clone() taskRefs {
	return taskRefs{byNode: r.byNode.Clone(), bySlot: r.bySlot.Clone()}
}

func taskSlotRef(t *api.Task) slotRef {
	ref := slotRef{service: t.ServiceID, slot: t.Slot, id: t.ID}
	if t.Slot == 0 {
		ref.node = t.NodeID
	}
	return ref
}

// move changes the references of a task from those of old (nil: the task
// is new) to those of cur (nil: it is deleted). A write that changes
// neither its node nor its slot changes nothing here.
func (r taskRefs) move(old, cur *api.Task) {
	if old != nil && cur != nil && old.ID != cur.ID {
		// Not a write the store makes: the old task's go, the new's come.
		r.move(old, nil)
		r.move(nil, cur)
		return
	}
	var oldNode, curNode nodeRef
	var oldSlot, curSlot slotRef
	if old != nil {
		oldNode, oldSlot = nodeRef{old.NodeID, old.ID}, taskSlotRef(old)
	}
	if cur != nil {
		curNode, curSlot = nodeRef{cur.NodeID, cur.ID}, taskSlotRef(cur)
	}
	if oldNode.node != curNode.node || old == nil || cur == nil {
		if oldNode.node != "" {
			r.byNode.Delete(oldNode)
		}
		if curNode.node != "" {
			r.byNode.ReplaceOrInsert(curNode)
		}
	}
	if old == nil || cur == nil || oldSlot != curSlot {
		if old != nil {
			r.bySlot.Delete(oldSlot)
		}
		if cur != nil {
			r.bySlot.ReplaceOrInsert(curSlot)
		}
	}
}

// byNodeTasks returns the tasks on node nodeID, by ID, read from txn.
func (r taskRefs) byNodeTasks(txn *memdb.Txn, nodeID string, keep func(*api.Task) bool) []*api.Task {
	var out []*api.Task
	r.byNode.AscendGreaterOrEqual(nodeRef{node: nodeID}, func(ref nodeRef) bool {
		if ref.node != nodeID {
			return false
		}
		if t := taskByID(txn, ref.id); t != nil && (keep == nil || keep(t)) {
			out = append(out, t)
		}
		return true
	})
	return out
}

// bySlotTasks returns the tasks of a service's slot (all: every slot of
// the service), by slot then ID, read from txn.
func (r taskRefs) bySlotTasks(txn *memdb.Txn, from slotRef, all bool, keep func(*api.Task) bool) []*api.Task {
	var out []*api.Task
	r.bySlot.AscendGreaterOrEqual(from, func(ref slotRef) bool {
		if ref.service != from.service || (!all && (ref.slot != from.slot || ref.node != from.node)) {
			return false
		}
		if t := taskByID(txn, ref.id); t != nil && (keep == nil || keep(t)) {
			out = append(out, t)
		}
		return true
	})
	return out
}

func taskByID(txn *memdb.Txn, id string) *api.Task {
	raw, _ := txn.First(tableTasks, "id", id)
	if raw == nil {
		return nil
	}
	return raw.(*api.Task)
}

// buildTaskRefs returns the references of tasks, as a snapshot restore
// needs them.
func buildTaskRefs(tasks []*api.Task) taskRefs {
	r := newTaskRefs()
	for _, t := range tasks {
		r.move(nil, t)
	}
	return r
}
