package scheduler

import (
	"cmp"
	"container/heap"
	"reflect"
	"slices"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// Place decides a node for each pending task and returns the writes: an
// assignment, or the reason it stays pending when that reason changed.
// It counts each assignment on its node (nodeInfo.add), so one batch
// spreads evenly.
//
// Tasks are placed by groups of the same shape (service, placement,
// reservations, host ports): a group's filters run once over the nodes,
// and the nodes that pass are ranked in heaps, so placing N tasks on M
// nodes costs about M per group plus N log M.
func Place(pending []*api.Task, nodes map[string]*nodeInfo) []state.Op {
	// Services in a stable order, slots in order, so a batch fills evenly.
	slices.SortFunc(pending, func(a, b *api.Task) int {
		return cmp.Or(cmp.Compare(a.ServiceID, b.ServiceID), cmp.Compare(a.Slot, b.Slot), cmp.Compare(a.ID, b.ID))
	})
	list := make([]*nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		list = append(list, n)
	}
	slices.SortFunc(list, func(a, b *nodeInfo) int { return cmp.Compare(a.ID, b.ID) })

	p := newPipeline()
	var ops []state.Op
	for i := 0; i < len(pending); {
		j := i + 1
		for j < len(pending) && sameShape(pending[i], pending[j]) {
			j++
		}
		ops = placeGroup(p, pending[i:j], list, nodes, ops)
		i = j
	}
	return ops
}

// sameShape reports whether a and b are placed alike: the same service
// and everything the filters and the ranking read of a task.
func sameShape(a, b *api.Task) bool {
	return a.ServiceID == b.ServiceID && a.NodeID == "" && b.NodeID == "" &&
		a.Spec.Runtime() == b.Spec.Runtime() &&
		(len(a.Spec.Networks) > 0) == (len(b.Spec.Networks) > 0) &&
		reflect.DeepEqual(a.Spec.Placement, b.Spec.Placement) &&
		reflect.DeepEqual(a.Spec.Resources, b.Spec.Resources) &&
		slices.Equal(hostPorts(a), hostPorts(b))
}

// placeGroup places tasks of one shape and appends the writes to ops.
func placeGroup(p *pipeline, group []*api.Task, list []*nodeInfo, byID map[string]*nodeInfo, ops []state.Op) []state.Op {
	first := group[0]
	candidates := list
	if first.NodeID != "" {
		// A global task: the node ID filter would refuse every other
		// node, and count them for no reason.
		candidates = nil
		if n := byID[first.NodeID]; n != nil {
			candidates = []*nodeInfo{n}
		}
	}
	p.setTask(first)
	r := newRanker(first, list)
	for _, n := range candidates {
		if p.check(n) {
			r.push(n)
		}
	}
	reason := ""
	for k, t := range group {
		best := r.best()
		if best == nil {
			if reason == "" {
				if k > 0 {
					// Placements since the first count changed it.
					p.setTask(first)
					for _, n := range candidates {
						p.check(n)
					}
				}
				reason = p.explain()
				if len(list) == 0 {
					reason = "no suitable node (no nodes in the cluster)"
				}
			}
			if t.Status.Err != reason {
				ops = append(ops, state.Op{Kind: state.OpPendingReason, ID: t.ID, Message: reason})
			}
			continue
		}
		best.add(t)
		r.placed(p.fits(best))
		ops = append(ops, state.Op{Kind: state.OpAssignTask, ID: t.ID, NodeID: best.ID, Message: "scheduler assigned task to node"})
	}
	return ops
}

// ranker orders the nodes that can take a group's tasks: nodes where the
// service keeps failing last, then placement preferences (spread over
// label values: the value with the fewest tasks of the service across all
// nodes first), then fewest tasks of the service, then fewest tasks
// overall, then node ID for a stable choice.
//
// Nodes with the same failing mark and preference values form a cell; a
// cell's nodes are in a heap by (service tasks, tasks, ID), exact since
// only the node placed on changes. The cells are in a heap by their key,
// kept lazily: a placement raises the counts of its values, so other
// cells' keys only grow, and a cell found on top with a stale key is
// fixed and looked at again.
type ranker struct {
	service string
	prefs   []string
	// counts are, per preference, the service's tasks by value.
	counts []map[string]int
	cells  map[string]*cell
	heap   cellHeap
}

type cell struct {
	failing bool
	values  []string
	nodes   nodeHeap
	key     []int // as of its last place in the heap
	index   int
}

func newRanker(t *api.Task, all []*nodeInfo) *ranker {
	r := &ranker{service: t.ServiceID, cells: map[string]*cell{}}
	if t.Spec.Placement != nil {
		for _, pref := range t.Spec.Placement.Preferences {
			r.prefs = append(r.prefs, pref.Spread)
		}
	}
	r.counts = make([]map[string]int, len(r.prefs))
	for i, attr := range r.prefs {
		r.counts[i] = map[string]int{}
		for _, n := range all {
			if c := n.serviceTasks[t.ServiceID]; c > 0 {
				r.counts[i][attrValue(n.Node, attr)] += c
			}
		}
	}
	return r
}

// push adds a node that can take the group's tasks.
func (r *ranker) push(n *nodeInfo) {
	failing := n.failing(r.service)
	values := make([]string, len(r.prefs))
	for i, attr := range r.prefs {
		values[i] = attrValue(n.Node, attr)
	}
	c := &cell{failing: failing, values: values}
	id := cellID(c)
	if have := r.cells[id]; have != nil {
		heap.Push(&have.nodes, n)
		heap.Fix(&r.heap, have.index)
		return
	}
	c.nodes = nodeHeap{service: r.service, nodes: []*nodeInfo{n}}
	c.key = r.key(c)
	r.cells[id] = c
	heap.Push(&r.heap, c)
}

// key is c's place in the order: failing, then its values' counts.
func (r *ranker) key(c *cell) []int {
	k := make([]int, 0, 1+len(r.prefs))
	if c.failing {
		k = append(k, 1)
	} else {
		k = append(k, 0)
	}
	for i, v := range c.values {
		k = append(k, r.counts[i][v])
	}
	return k
}

// best returns the best node, or nil when no node can take the task. It
// leaves the node's cell on top of the heap, for placed.
func (r *ranker) best() *nodeInfo {
	for len(r.heap.cells) > 0 {
		c := r.heap.cells[0]
		if k := r.key(c); slices.Compare(k, c.key) > 0 {
			c.key = k
			heap.Fix(&r.heap, 0)
			continue
		}
		return c.nodes.nodes[0]
	}
	return nil
}

// placed counts a task on the node best returned; fits says whether the
// node can take another of the group's tasks.
func (r *ranker) placed(fits bool) {
	c := r.heap.cells[0]
	for i, v := range c.values {
		r.counts[i][v]++
	}
	if fits {
		heap.Fix(&c.nodes, 0)
	} else {
		heap.Pop(&c.nodes)
	}
	if len(c.nodes.nodes) == 0 {
		heap.Pop(&r.heap)
		delete(r.cells, cellID(c))
		return
	}
	c.key = r.key(c)
	heap.Fix(&r.heap, 0)
}

func cellID(c *cell) string {
	id := strings.Join(c.values, "\x00")
	if c.failing {
		id = "!" + id
	}
	return id
}

// cellHeap orders cells by key, then by their best node.
type cellHeap struct{ cells []*cell }

func (h *cellHeap) Len() int { return len(h.cells) }
func (h *cellHeap) Less(i, j int) bool {
	a, b := h.cells[i], h.cells[j]
	if c := slices.Compare(a.key, b.key); c != 0 {
		return c < 0
	}
	return a.nodes.less(a.nodes.nodes[0], b.nodes.nodes[0])
}
func (h *cellHeap) Swap(i, j int) {
	h.cells[i], h.cells[j] = h.cells[j], h.cells[i]
	h.cells[i].index, h.cells[j].index = i, j
}
func (h *cellHeap) Push(x any) {
	c := x.(*cell)
	c.index = len(h.cells)
	h.cells = append(h.cells, c)
}
func (h *cellHeap) Pop() any {
	c := h.cells[len(h.cells)-1]
	h.cells = h.cells[:len(h.cells)-1]
	return c
}

// nodeHeap orders a cell's nodes by the service's tasks, then all tasks,
// then ID.
type nodeHeap struct {
	service string
	nodes   []*nodeInfo
}

func (h *nodeHeap) less(a, b *nodeInfo) bool {
	if x, y := a.serviceTasks[h.service], b.serviceTasks[h.service]; x != y {
		return x < y
	}
	if a.total != b.total {
		return a.total < b.total
	}
	return a.ID < b.ID
}
func (h *nodeHeap) Len() int           { return len(h.nodes) }
func (h *nodeHeap) Less(i, j int) bool { return h.less(h.nodes[i], h.nodes[j]) }
func (h *nodeHeap) Swap(i, j int)      { h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i] }
func (h *nodeHeap) Push(x any)         { h.nodes = append(h.nodes, x.(*nodeInfo)) }
func (h *nodeHeap) Pop() any {
	n := h.nodes[len(h.nodes)-1]
	h.nodes = h.nodes[:len(h.nodes)-1]
	return n
}
