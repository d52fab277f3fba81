package scheduler

import (
	"reflect"
	"sort"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// TestHeapPlacementEqualsFullComparison: Place, which ranks nodes in
// heaps by groups of tasks, decides exactly what comparing every node for
// every task decides (placeNaive, the scheduler before the heaps).
func TestHeapPlacementEqualsFullComparison(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var nodes []*api.Node
		for i := range rapid.IntRange(0, 8).Draw(rt, "nodes") {
			nodes = append(nodes, genNode(rt, i))
		}
		var tasks []*api.Task
		for i := range rapid.IntRange(0, 12).Draw(rt, "preexisting") {
			if len(nodes) == 0 {
				break
			}
			tk := mkTask(rapid.SampledFrom([]string{"pre", "s0", "s1"}).Draw(rt, "preService"), uint64(100+i),
				runningOn(rapid.SampledFrom(nodes).Draw(rt, "preNode").ID))
			tk.ID = tk.ID + "-pre"
			if rapid.Bool().Draw(rt, "preFailed") {
				tk.Status.State = api.TaskStateFailed
				tk.DesiredState = api.TaskStateShutdown
			}
			tasks = append(tasks, tk)
		}
		for i := range rapid.IntRange(1, 3).Draw(rt, "services") {
			s := genService(rt, i)
			zone := rapid.Bool().Draw(rt, "spreadTwice")
			for slot := 1; slot <= s.tasks; slot++ {
				tk := s.task(uint64(slot))
				if zone {
					spreadOver("node.role")(tk)
				}
				tasks = append(tasks, tk)
			}
		}
		c := newCluster(rt, nodes, tasks)
		tx := c.store.Read()
		got := Place(pendingTasks(tx), nodeInfosAt(tx, t0))
		want := placeNaive(pendingTasks(tx), nodeInfosAt(tx, t0))
		if !reflect.DeepEqual(got, want) {
			rt.Fatalf("heap placement\n%v\nfull comparison\n%v", got, want)
		}
	})
}

// placeNaive is the scheduler's placement before the heaps: every node
// through the filters and the ranking, for every task.
func placeNaive(pending []*api.Task, nodes map[string]*nodeInfo) []state.Op {
	sort.Slice(pending, func(i, j int) bool {
		a, b := pending[i], pending[j]
		if a.ServiceID != b.ServiceID {
			return a.ServiceID < b.ServiceID
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		return a.ID < b.ID
	})
	list := make([]*nodeInfo, 0, len(nodes))
	for _, n := range nodes {
		list = append(list, n)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	p := newPipeline()
	var ops []state.Op
	var fit []*nodeInfo
	for _, t := range pending {
		p.setTask(t)
		fit = fit[:0]
		for _, n := range list {
			if p.check(n) {
				fit = append(fit, n)
			}
		}
		if len(fit) == 0 {
			reason := p.explain()
			if len(list) == 0 {
				reason = "no suitable node (no nodes in the cluster)"
			}
			if t.Status.Err != reason {
				ops = append(ops, state.Op{Kind: state.OpPendingReason, ID: t.ID, Message: reason})
			}
			continue
		}
		best := rankNaive(t, fit, list)
		best.add(t)
		ops = append(ops, state.Op{Kind: state.OpAssignTask, ID: t.ID, NodeID: best.ID, Message: "scheduler assigned task to node"})
	}
	return ops
}

func rankNaive(t *api.Task, fit, all []*nodeInfo) *nodeInfo {
	var healthy []*nodeInfo
	for _, n := range fit {
		if !n.failing(t.ServiceID) {
			healthy = append(healthy, n)
		}
	}
	if len(healthy) > 0 {
		fit = healthy
	}
	if t.Spec.Placement != nil {
		for _, pref := range t.Spec.Placement.Preferences {
			count := map[string]int{}
			for _, n := range all {
				count[attrValue(n.Node, pref.Spread)] += n.serviceTasks[t.ServiceID]
			}
			min := -1
			for _, n := range fit {
				if c := count[attrValue(n.Node, pref.Spread)]; min < 0 || c < min {
					min = c
				}
			}
			var out []*nodeInfo
			for _, n := range fit {
				if count[attrValue(n.Node, pref.Spread)] == min {
					out = append(out, n)
				}
			}
			fit = out
		}
	}
	best := fit[0]
	for _, n := range fit[1:] {
		a, b := n.serviceTasks[t.ServiceID], best.serviceTasks[t.ServiceID]
		if a < b || (a == b && n.total < best.total) {
			best = n
		}
	}
	return best
}
