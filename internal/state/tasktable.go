package state

import (
	"cmp"
	"slices"
	"strings"

	"github.com/google/btree"
	"github.com/shoalproject/shoal/api"
)

// taskTable holds the tasks and their indexes in copy-on-write B-trees,
// outside go-memdb (issue 15): the tasks by ID and by slot, and
// references that name a task by its ID (by node, by network and by
// address).
//
// go-memdb's indexes hold the object itself, so every write of a task, a
// status report as much as a creation, was inserted again into each of
// its radix trees, copying a path of nodes and making a channel per node.
// Here a write replaces the task's item in the ID and slot trees (a
// B-tree replaces an item in place, copying the nodes of its path once
// per command), and a reference changes only when what it names does (a
// task assigned, ended or deleted). A B-tree item is a few string headers
// that share the task's own strings, in nodes of 15 to 31 items, where a
// radix tree spends two nodes and two channels per key (about 430 bytes
// a key).
//
// The table is a persistent value like go-memdb's: a write transaction
// writes a clone (copy on write: the nodes it changes are copied, the
// others shared) that the store keeps when it commits, under its lock;
// the views read a clone made at that commit, which nothing clones or
// writes again (Store.tasksView), taken under the same lock as their
// go-memdb transaction, so both are at one index and a later write never
// changes what a view answers (TestTaskTableEqualsAFullScan,
// TestTaskTableReadersDuringWrites).
type taskTable struct {
	byID   *btree.BTreeG[taskItem]
	byNode *btree.BTreeG[keyRef]
	bySlot *btree.BTreeG[slotRef]
	// byNet and byAddr name the tasks that have not ended by network and
	// by address (taskNetworkKeys, taskAddrKeys).
	byNet  *btree.BTreeG[keyRef]
	byAddr *btree.BTreeG[keyRef]
}

type taskItem struct {
	id string
	t  *api.Task
}

// keyRef names the task id under key (a node, a network, an address).
type keyRef struct{ key, id string }

// slotRef is a task of a service's slot: slot from 1 for a replicated
// service, 0 and its node for a global one (as slotKey). Unlike the other
// references it holds the task itself, replaced on every write of the
// task, as the ID tree's item is: the controllers list a service's tasks
// on every pass, and reading each by ID made that three times slower
// than go-memdb's index did. Its order is by service, slot, node, then
// the task's ID (none: before every task of that slot, to start a walk).
type slotRef struct {
	service string
	slot    uint64
	node    string
	t       *api.Task
}

func (r slotRef) id() string {
	if r.t == nil {
		return ""
	}
	return r.t.ID
}

func (r slotRef) sameSlot(o slotRef) bool {
	return r.service == o.service && r.slot == o.slot && r.node == o.node
}

// tableDegree is the B-trees' degree: nodes of 15 to 31 items.
const tableDegree = 16

func lessKeyRef(a, b keyRef) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.id < b.id
}

func newTaskTable() taskTable {
	return taskTable{
		byID:   btree.NewG(tableDegree, func(a, b taskItem) bool { return a.id < b.id }),
		byNode: btree.NewG(tableDegree, lessKeyRef),
		bySlot: btree.NewG(tableDegree, func(a, b slotRef) bool {
			if c := cmp.Compare(a.service, b.service); c != 0 {
				return c < 0
			}
			if a.slot != b.slot {
				return a.slot < b.slot
			}
			if a.node != b.node {
				return a.node < b.node
			}
			return a.id() < b.id()
		}),
		byNet:  btree.NewG(tableDegree, lessKeyRef),
		byAddr: btree.NewG(tableDegree, lessKeyRef),
	}
}

// clone returns a copy that can be written, or read while r is written;
// calls are serialized by the store's lock.
func (r taskTable) clone() taskTable {
	return taskTable{byID: r.byID.Clone(), byNode: r.byNode.Clone(), bySlot: r.bySlot.Clone(),
		byNet: r.byNet.Clone(), byAddr: r.byAddr.Clone()}
}

func taskSlotRef(t *api.Task) slotRef {
	ref := slotRef{service: t.ServiceID, slot: t.Slot, t: t}
	if t.Slot == 0 {
		ref.node = t.NodeID
	}
	return ref
}

// get returns the task id, or nil.
func (r taskTable) get(id string) *api.Task {
	it, _ := r.byID.Get(taskItem{id: id})
	return it.t
}

// put stores t in place of the task of its ID, if any, and moves its
// references.
func (r taskTable) put(t *api.Task) {
	old, _ := r.byID.ReplaceOrInsert(taskItem{id: t.ID, t: t})
	r.move(old.t, t)
}

// remove deletes the task id and its references.
func (r taskTable) remove(id string) {
	if old, ok := r.byID.Delete(taskItem{id: id}); ok {
		r.move(old.t, nil)
	}
}

// move changes the references of a task from those of old (nil: the task
// is new) to those of cur (nil: it is deleted). A write that changes
// none of its node, slot, networks and addresses changes only the slot
// reference's task.
func (r taskTable) move(old, cur *api.Task) {
	var oldNode, curNode keyRef
	var oldSlot, curSlot slotRef
	if old != nil {
		oldNode, oldSlot = keyRef{old.NodeID, old.ID}, taskSlotRef(old)
	}
	if cur != nil {
		curNode, curSlot = keyRef{cur.NodeID, cur.ID}, taskSlotRef(cur)
	}
	if oldNode != curNode {
		if oldNode.key != "" {
			r.byNode.Delete(oldNode)
		}
		if curNode.key != "" {
			r.byNode.ReplaceOrInsert(curNode)
		}
	}
	// The same slot's reference (old and cur share the ID) is replaced
	// in place, taking cur.
	if old != nil && (cur == nil || !oldSlot.sameSlot(curSlot)) {
		r.bySlot.Delete(oldSlot)
	}
	if cur != nil {
		r.bySlot.ReplaceOrInsert(curSlot)
	}
	moveKeys(r.byNet, old, cur, taskNetworkKeys)
	moveKeys(r.byAddr, old, cur, taskAddrKeys)
}

// moveKeys moves a task's references in tree from old's keys to cur's.
func moveKeys(tree *btree.BTreeG[keyRef], old, cur *api.Task, keys func(*api.Task) []string) {
	var oldKeys, curKeys []string
	var oldID, curID string
	if old != nil {
		oldKeys, oldID = keys(old), old.ID
	}
	if cur != nil {
		curKeys, curID = keys(cur), cur.ID
	}
	if oldID == curID && slices.Equal(oldKeys, curKeys) {
		return
	}
	for _, k := range oldKeys {
		tree.Delete(keyRef{k, oldID})
	}
	for _, k := range curKeys {
		tree.ReplaceOrInsert(keyRef{k, curID})
	}
}

// all returns every task, by ID.
func (r taskTable) all() []*api.Task {
	out := make([]*api.Task, 0, r.byID.Len())
	r.byID.Ascend(func(it taskItem) bool {
		out = append(out, it.t)
		return true
	})
	return out
}

// withPrefix returns the tasks whose ID begins with prefix, by ID.
func (r taskTable) withPrefix(prefix string) []*api.Task {
	var out []*api.Task
	r.byID.AscendGreaterOrEqual(taskItem{id: prefix}, func(it taskItem) bool {
		if !strings.HasPrefix(it.id, prefix) {
			return false
		}
		out = append(out, it.t)
		return true
	})
	return out
}

// under returns the tasks tree names under key, by ID, those keep
// accepts (nil: all).
func (r taskTable) under(tree *btree.BTreeG[keyRef], key string, keep func(*api.Task) bool) []*api.Task {
	var out []*api.Task
	tree.AscendGreaterOrEqual(keyRef{key: key}, func(ref keyRef) bool {
		if ref.key != key {
			return false
		}
		if t := r.get(ref.id); t != nil && (keep == nil || keep(t)) {
			out = append(out, t)
		}
		return true
	})
	return out
}

// anyUnder reports whether tree names a task under key.
func anyUnder(tree *btree.BTreeG[keyRef], key string) bool {
	found := false
	tree.AscendGreaterOrEqual(keyRef{key: key}, func(ref keyRef) bool {
		found = ref.key == key
		return false
	})
	return found
}

// ofService returns the tasks of one service, by ID.
func (r taskTable) ofService(serviceID string) []*api.Task {
	out := r.bySlotTasks(slotRef{service: serviceID}, true)
	// By ID, as every other list of tasks.
	slices.SortFunc(out, func(a, b *api.Task) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// bySlotTasks returns the tasks of a service's slot (all: every slot of
// the service), by slot then ID.
func (r taskTable) bySlotTasks(from slotRef, all bool) []*api.Task {
	var out []*api.Task
	r.bySlot.AscendGreaterOrEqual(from, func(ref slotRef) bool {
		if ref.service != from.service || (!all && (ref.slot != from.slot || ref.node != from.node)) {
			return false
		}
		out = append(out, ref.t)
		return true
	})
	return out
}
