package orchestrator

import (
	"context"
	"slices"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// A node's change concerns the global services and the services with
// tasks on it, not the other replicated ones.
func TestNodeChangeTouchesGlobalServicesAndThoseWithTasksOnIt(t *testing.T) {
	s := state.NewStore()
	p := &state.LocalProposer{Store: s}
	replicated := api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}}
	svc := func(id string, mode api.ServiceMode) state.Op {
		return state.Op{Kind: state.OpCreateService, Service: &api.Service{ID: id, Spec: api.ServiceSpec{Name: id, Mode: mode}}}
	}
	task := func(id, service, node string) state.Op {
		return state.Op{Kind: state.OpCreateTask, Task: &api.Task{ID: id, ServiceID: service, NodeID: node, DesiredState: api.TaskStateRunning,
			Status: api.TaskStatus{State: api.TaskStateRunning}}}
	}
	res, err := p.Propose(context.Background(), &state.Command{Atomic: true, Ops: []state.Op{
		svc("global", api.ServiceMode{Global: &api.GlobalService{}}),
		svc("here", replicated), svc("elsewhere", replicated),
		task("t1", "here", "n1"), task("t2", "elsewhere", "n2"),
	}})
	if err != nil || res.Err != nil {
		t.Fatal(err, res.Err)
	}
	got := nodeTouched(s.Read(), "n1")
	slices.Sort(got)
	if !slices.Equal(got, []string{"global", "here"}) {
		t.Fatalf("node n1 touches %v, want [global here]", got)
	}
}
