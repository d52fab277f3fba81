package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// benchCluster is 1,000 nodes in 10 zones running 10 services × 1,000
// tasks, and pending tasks of an 11th service with a constraint and a
// spread preference over the zones.
func benchCluster(b *testing.B, pending int) *state.Store {
	b.Helper()
	var nodes []*api.Node
	for i := range 1000 {
		n := mkNode(fmt.Sprintf("n%04d", i), withCPUs(64))
		n.Spec.Labels = map[string]string{"zone": fmt.Sprintf("z%d", i%10), "tier": "app"}
		nodes = append(nodes, n)
	}
	var tasks []*api.Task
	for s := range 10 {
		for slot := range 1000 {
			tasks = append(tasks, mkTask(fmt.Sprintf("s%d", s), uint64(slot+1), runningOn(nodes[(slot*7+s)%1000].ID)))
		}
	}
	for slot := range pending {
		tasks = append(tasks, mkTask("new", uint64(slot+1), constraints("node.labels.tier==app"), spreadOver("node.labels.zone")))
	}
	s := state.NewStore()
	p := &state.LocalProposer{Store: s}
	var ops []state.Op
	for _, n := range nodes {
		ops = append(ops, state.Op{Kind: state.OpUpsertNode, Node: n})
	}
	for _, t := range tasks {
		ops = append(ops, state.Op{Kind: state.OpCreateTask, Task: t})
	}
	if res, err := p.Propose(b.Context(), &state.Command{Time: t0, Atomic: true, Ops: ops}); err != nil || res.Err != nil {
		b.Fatal(err, res.Err)
	}
	return s
}

// BenchmarkPass is one scheduler pass placing N pending tasks on 1,000
// nodes running 10,000 tasks. full is the scheduler before issue 15: it
// scans every task for the pending ones and for the nodes' counts, then
// compares every node for every task; incremental places from the view
// kept from events.
func BenchmarkPass(b *testing.B) {
	for _, pending := range []int{1, 1000, 10000} {
		s := benchCluster(b, pending)
		b.Run(fmt.Sprintf("full/pending=%d", pending), func(b *testing.B) {
			for range b.N {
				tx := s.Read()
				ops := placeNaive(pendingTasks(tx), nodeInfosAt(tx, t0))
				if len(ops) != pending {
					b.Fatalf("%d ops", len(ops))
				}
			}
			b.ReportMetric(float64(pending*b.N)/b.Elapsed().Seconds(), "placements/s")
		})
		b.Run(fmt.Sprintf("incremental/pending=%d", pending), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				v := newView(s.Read())
				b.StartTimer()
				ops := Place(slices.Collect(maps.Values(v.pending)), v.at(t0))
				if len(ops) != pending {
					b.Fatalf("%d ops", len(ops))
				}
			}
			b.ReportMetric(float64(pending*b.N)/b.Elapsed().Seconds(), "placements/s")
		})
	}
}
