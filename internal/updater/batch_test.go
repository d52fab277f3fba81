package updater

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// An update of a large service with parallelism 0 (all at once) starts
// its slots in batches of at most maxSlotsPerPass, stop-first and
// start-first alike; the rest follow on the next passes.
func TestLargeBatchIsBounded(t *testing.T) {
	const replicas = 1200
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, order := range []string{api.UpdateOrderStopFirst, api.UpdateOrderStartFirst} {
		t.Run(order, func(t *testing.T) {
			svc := &api.Service{ID: "s1", SpecVersion: 2, Spec: api.ServiceSpec{Name: "web",
				Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}},
				UpdateConfig: &api.UpdateConfig{Parallelism: 0, Order: order}},
				UpdateStatus: &api.UpdateStatus{State: api.UpdateStateUpdating, StartedAt: &t0}}
			var tasks []*api.Task
			for i := 1; i <= replicas; i++ {
				tk := &api.Task{ID: fmt.Sprintf("t%d", i), ServiceID: "s1", Slot: uint64(i), SpecVersion: 1, DesiredState: api.TaskStateRunning,
					Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: t0.Add(-time.Hour)}}
				tk.CreatedAt = t0.Add(-time.Hour)
				tasks = append(tasks, tk)
			}
			p := decide(svc, tasks, func(string) bool { return false }, t0.Add(time.Second))
			kinds := map[state.OpKind]int{}
			for _, op := range p.ops {
				kinds[op.Kind]++
			}
			if len(p.ops) != maxSlotsPerPass {
				t.Fatalf("one pass wrote %d ops (%v), want %d", len(p.ops), kinds, maxSlotsPerPass)
			}
		})
	}
}
