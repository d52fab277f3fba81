package updater

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
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
			p := decide(svc, tasks, func(string) api.SlotNode { return api.SlotNode{} }, t0.Add(time.Second))
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

// A pass over many services updated at once (a stack deployed again)
// starts at most maxSlotsPerPass slots in all, not that many per
// service, and wakes the services it did not get to at once.
func TestPassBoundsSlotsAcrossServices(t *testing.T) {
	const services, replicas = 4, 300
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := state.NewStore()
	prop := &state.LocalProposer{Store: store}
	clk := clock.NewFake(t0.Add(time.Second))
	// Each service runs its tasks of spec 1, then moves to spec 2.
	var creates, updates []state.Op
	dirty := map[string]bool{}
	for s := range services {
		id := fmt.Sprintf("s%d", s)
		dirty[id] = true
		svc := &api.Service{ID: id, SpecVersion: 1, Spec: api.ServiceSpec{Name: "web" + id,
			Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "60"}}},
			UpdateConfig: &api.UpdateConfig{Parallelism: 0, Order: api.UpdateOrderStartFirst}}}
		creates = append(creates, state.Op{Kind: state.OpCreateService, Service: svc})
		for i := 1; i <= replicas; i++ {
			tk := &api.Task{ID: fmt.Sprintf("%s-t%d", id, i), ServiceID: id, Slot: uint64(i), SpecVersion: 1, DesiredState: api.TaskStateRunning,
				Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: t0.Add(-time.Hour)}}
			tk.CreatedAt = t0.Add(-time.Hour)
			creates = append(creates, state.Op{Kind: state.OpCreateTask, Task: tk})
		}
		next := *svc
		next.SpecVersion = 2
		next.UpdateStatus = &api.UpdateStatus{State: api.UpdateStateUpdating, StartedAt: &t0}
		updates = append(updates, state.Op{Kind: state.OpUpdateService, Service: &next})
	}
	for _, ops := range [][]state.Op{creates, updates} {
		errs, err := state.ProposeBatches(context.Background(), prop, t0, ops)
		if err := errors.Join(append(errs, err)...); err != nil {
			t.Fatal(err)
		}
	}
	before := len(store.Read().Tasks())
	u := &Updater{Store: store, Proposer: prop, Clock: clk}
	wakes := map[string]time.Time{}
	if err := u.pass(context.Background(), dirty, wakes); err != nil {
		t.Fatal(err)
	}
	made := len(store.Read().Tasks()) - before
	if made > maxSlotsPerPass {
		t.Fatalf("one pass over %d services started %d new tasks, more than %d", services, made, maxSlotsPerPass)
	}
	for id := range dirty {
		started := 0
		for _, tk := range store.Read().TasksByService(id) {
			if tk.SpecVersion == 2 {
				started++
			}
		}
		if at, ok := wakes[id]; started == 0 && (!ok || at.After(clk.Now())) {
			t.Errorf("service %s started no slot and is not woken now (%v, %v)", id, at, ok)
		}
	}
}
