package updater

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/state"
)

// countingProposer counts the commands proposed.
type countingProposer struct {
	state.Proposer
	commands int
}

func (c *countingProposer) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	c.commands++
	return c.Proposer.Propose(ctx, cmd)
}

// Many updates that end in one pass write their status in one command,
// not one Raft round trip per service.
func TestUpdateStatusWritesAreBatchedAcrossServices(t *testing.T) {
	const services = 50
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := state.NewStore()
	local := &state.LocalProposer{Store: store}
	var ops []state.Op
	dirty := map[string]bool{}
	for s := range services {
		id := fmt.Sprintf("s%02d", s)
		dirty[id] = true
		svc := &api.Service{ID: id, SpecVersion: 2, Spec: api.ServiceSpec{Name: "web" + id,
			Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "60"}}}},
			UpdateStatus: &api.UpdateStatus{State: api.UpdateStateUpdating, StartedAt: &t0}}
		tk := &api.Task{ID: id + "-t1", ServiceID: id, Slot: 1, SpecVersion: 2, DesiredState: api.TaskStateRunning,
			Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: t0}}
		tk.CreatedAt = t0
		ops = append(ops, state.Op{Kind: state.OpCreateService, Service: svc}, state.Op{Kind: state.OpCreateTask, Task: tk})
	}
	if res, err := local.Propose(context.Background(), &state.Command{Time: t0, Atomic: true, Ops: ops}); err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	prop := &countingProposer{Proposer: local}
	u := &Updater{Store: store, Proposer: prop, Clock: clock.NewFake(t0.Add(time.Hour))}
	if err := u.pass(context.Background(), dirty, map[string]time.Time{}); err != nil {
		t.Fatal(err)
	}
	if prop.commands != 1 {
		t.Fatalf("%d commands for %d services' status, want 1", prop.commands, services)
	}
	for _, svc := range store.Read().Services() {
		if st := svc.UpdateStatus; st == nil || st.State != api.UpdateStateCompleted {
			t.Fatalf("service %s update status %+v, want completed", svc.ID, st)
		}
	}
}
