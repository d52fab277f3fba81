package updater

import (
	"context"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

// A job has no rolling update: a task of its last spec version running
// when the spec changes is the orchestrator's to stop, and the updater
// neither replaces it nor records an update.
func TestUpdaterLeavesJobsAlone(t *testing.T) {
	for _, mode := range []api.ServiceMode{
		{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: 1, TotalCompletions: 1}},
		{GlobalJob: &api.GlobalJob{}},
	} {
		store := state.NewStore()
		prop := &state.LocalProposer{Store: store}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		write := func(ops ...state.Op) {
			t.Helper()
			res, err := prop.Propose(context.Background(), &state.Command{Time: now, Ops: ops})
			if err != nil || res.Err != nil {
				t.Fatalf("write: %v %v", err, res.Err)
			}
		}
		write(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "node1",
			Spec:        api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive},
			Description: api.NodeDescription{Runtimes: []string{api.RuntimeProcess}},
			Status:      api.NodeStatus{State: api.NodeStateReady}}})
		svc := &api.Service{ID: "svc1", SpecVersion: 1, Spec: api.ServiceSpec{Name: "job", Mode: mode,
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"app"}}}}}
		write(state.Op{Kind: state.OpCreateService, Service: svc})
		tk := api.NewTask(svc, 1, "node1", now)
		if mode.IsGlobal() {
			tk.Slot = 0
		}
		write(state.Op{Kind: state.OpCreateTask, Task: tk})
		write(state.Op{Kind: state.OpAssignTask, ID: tk.ID, NodeID: "node1"})
		next := *store.Read().Service("svc1")
		next.SpecVersion = 2
		next.Spec.TaskTemplate.ContainerSpec.Args = []string{"v2"}
		write(state.Op{Kind: state.OpUpdateService, Service: &next})

		before := store.Index()
		u := &Updater{Store: store, Proposer: prop, Clock: clock.NewFake(now)}
		wakes := map[string]time.Time{}
		if err := u.pass(context.Background(), map[string]bool{"svc1": true}, wakes); err != nil {
			t.Fatal(err)
		}
		if store.Index() != before {
			t.Errorf("%s: the updater wrote to a job", mode.Name())
		}
		if st := store.Read().Service("svc1").UpdateStatus; st != nil {
			t.Errorf("%s: update status %+v, want none", mode.Name(), st)
		}
		if len(wakes) != 0 {
			t.Errorf("%s: the updater set a wake-up for a job: %v", mode.Name(), wakes)
		}
	}
}
