package agentlink_test

import (
	"context"
	"slices"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/state"
)

// A service no node routes to (no labels, ports or networks) and its
// tasks are not sent on the routes streams: changing them sends a node
// nothing. Once it gets a label, it comes with its tasks as they are.
func TestRoutesStreamSkipsUnroutedServices(t *testing.T) {
	e := newEnv(t)
	batch := &api.Service{ID: "batchid", SpecVersion: 1, Spec: api.ServiceSpec{Name: "batch",
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep"}}}}}
	web := &api.Service{ID: "svcid", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web",
		Labels: map[string]string{"traefik.http.routers.web.rule": "PathPrefix(`/`)"}}}
	e.must(state.Op{Kind: state.OpCreateService, Service: batch}, state.Op{Kind: state.OpCreateService, Service: web})
	batchTask := func() *api.Task {
		tk := &api.Task{ID: api.NewID(), ServiceID: "batchid", ServiceName: "batch", Slot: 1, SpecVersion: 1,
			DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStatePending}}
		e.must(state.Op{Kind: state.OpCreateTask, Task: tk})
		return tk
	}
	first := batchTask()

	resets, events := e.followRoutes(nodeB)
	r := <-resets
	if len(r.Services) != 1 || r.Services[0].ID != "svcid" || len(r.Tasks) != 0 {
		t.Fatalf("snapshot: services %+v, tasks %+v: want web only", r.Services, r.Tasks)
	}

	// Changes to batch: its spec, a new task placed and stopped.
	upd := *e.store.Read().Service("batchid")
	upd.Spec.TaskTemplate.ContainerSpec.Env = []string{"A=1"}
	e.must(state.Op{Kind: state.OpUpdateService, Service: &upd, ExpectVersion: upd.Version})
	second := batchTask()
	e.must(state.Op{Kind: state.OpAssignTask, ID: second.ID, NodeID: nodeB, Message: "assigned"})
	e.must(state.Op{Kind: state.OpSetDesiredState, ID: first.ID, Desired: api.TaskStateShutdown})
	// Then one of web: the first event the node gets.
	marker := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"sleep"}})
	for ev := range events {
		if ev.ID == "batchid" || (ev.Task != nil && ev.Task.ServiceID == "batchid") {
			t.Fatalf("event %s %s %s of the unrouted service sent", ev.Type, ev.Action, ev.ID)
		}
		if ev.Type == api.EventTask && ev.ID == marker.ID && ev.Task.Status.State == api.TaskStateAssigned {
			break
		}
	}

	// batch gets a label: it comes, then both its tasks, as they are now.
	upd = *e.store.Read().Service("batchid")
	upd.Spec.Labels = map[string]string{"traefik.enable": "true"}
	e.must(state.Op{Kind: state.OpUpdateService, Service: &upd, ExpectVersion: upd.Version})
	ev := <-events
	if ev.Type != api.EventService || ev.ID != "batchid" || ev.Service.Spec.Labels["traefik.enable"] != "true" {
		t.Fatalf("event %+v: want batch with its label", ev)
	}
	var got []string
	for range 2 {
		ev := <-events
		if ev.Type != api.EventTask || ev.Task == nil {
			t.Fatalf("event %+v: want a task of batch", ev)
		}
		if ev.ID == second.ID && (ev.Task.NodeID != nodeB || ev.Task.Status.State != api.TaskStateAssigned) {
			t.Errorf("task %+v: want it as it is now, assigned to node B", ev.Task)
		}
		if ev.ID == first.ID && ev.Task.DesiredState != api.TaskStateShutdown {
			t.Errorf("task %+v: want its desired state shutdown", ev.Task)
		}
		got = append(got, ev.ID)
	}
	if !slices.Contains(got, first.ID) || !slices.Contains(got, second.ID) {
		t.Fatalf("tasks sent %v: want %s and %s", got, first.ID, second.ID)
	}
	// From now on batch's task changes come.
	e.must(state.Op{Kind: state.OpSetDesiredState, ID: second.ID, Desired: api.TaskStateShutdown})
	if ev := <-events; ev.ID != second.ID || ev.Task.DesiredState != api.TaskStateShutdown {
		t.Fatalf("event %+v: want the task's new desired state", ev)
	}
}

// followRoutes follows node's routes stream until the test ends, giving
// its resets and its events one by one.
func (e *env) followRoutes(node string) (<-chan agentlink.Routes, <-chan api.Event) {
	ctx, cancel := context.WithCancel(testCtx(e.t))
	e.t.Cleanup(cancel)
	resets := make(chan agentlink.Routes, 1)
	events := make(chan api.Event, 64)
	go e.client(node).FollowRoutes(ctx, func(r agentlink.Routes) { resets <- r }, func(evs ...api.Event) {
		for _, ev := range evs {
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	})
	return resets, events
}
