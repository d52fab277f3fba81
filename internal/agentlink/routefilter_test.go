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

// A task of an unrouted service that was sent (it had endpoints: a task
// of the spec before the ports were removed) keeps coming after it loses
// them: its reader must see it change and go, or it keeps a task that a
// fresh snapshot would not have.
func TestRoutesStreamFollowsSentTaskOfUnroutedService(t *testing.T) {
	e := newEnv(t)
	ports := &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 8080}}}
	batch := &api.Service{ID: "batchid", SpecVersion: 1, Spec: api.ServiceSpec{Name: "batch", EndpointSpec: ports,
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep"}}}}}
	e.must(state.Op{Kind: state.OpCreateService, Service: batch})
	old := &api.Task{ID: api.NewID(), ServiceID: "batchid", ServiceName: "batch", Slot: 1, SpecVersion: 1,
		NodeID: nodeB, Spec: batch.Spec.TaskTemplate, Endpoint: ports,
		Endpoints:    []api.TaskEndpoint{{TargetPort: 80, Addr: "10.0.0.2:8080"}},
		DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStateRunning}}
	e.must(state.Op{Kind: state.OpCreateTask, Task: old})
	// Its ports removed: the service is no longer routed, its task runs on.
	upd := *e.store.Read().Service("batchid")
	upd.Spec.EndpointSpec = nil
	e.must(state.Op{Kind: state.OpUpdateService, Service: &upd, ExpectVersion: upd.Version})

	resets, events := e.followRoutes(nodeB)
	r := <-resets
	if len(r.Services) != 0 || len(r.Tasks) != 1 || r.Tasks[0].ID != old.ID {
		t.Fatalf("snapshot services %+v, tasks %+v: want only the task with endpoints", r.Services, r.Tasks)
	}
	// It loses its endpoints, then it is removed.
	e.must(state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: old.ID,
		Status: api.TaskStatus{State: api.TaskStateRunning}, Endpoints: []api.TaskEndpoint{}}})
	e.must(state.Op{Kind: state.OpDeleteTask, ID: old.ID})
	marker := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"sleep"}})
	var lost, removed bool
	for ev := range events {
		if ev.ID == old.ID && ev.Action == api.ActionUpdate && ev.Task != nil && len(ev.Task.Endpoints) == 0 {
			lost = true
		}
		if ev.ID == old.ID && ev.Action == api.ActionRemove {
			removed = true
		}
		if ev.ID == marker.ID {
			break
		}
	}
	if !lost || !removed {
		t.Fatalf("task that lost its endpoints: update sent %v, removal sent %v: want both", lost, removed)
	}
}

// Removing an unrouted service leaves its tasks to be shut down and
// removed after it: those changes are of no more use to a node than the
// ones before (issue 15: a batch service's rm must not cost every routes
// stream one event per task change).
func TestRoutesStreamSkipsTasksOfRemovedUnroutedService(t *testing.T) {
	e := newEnv(t)
	batch := &api.Service{ID: "batchid", SpecVersion: 1, Spec: api.ServiceSpec{Name: "batch",
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep"}}}}}
	e.must(state.Op{Kind: state.OpCreateService, Service: batch})
	var ids []string
	for range 3 {
		tk := &api.Task{ID: api.NewID(), ServiceID: "batchid", ServiceName: "batch", Slot: uint64(len(ids) + 1), SpecVersion: 1,
			DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStatePending}}
		e.must(state.Op{Kind: state.OpCreateTask, Task: tk})
		ids = append(ids, tk.ID)
	}
	resets, events := e.followRoutes(nodeB)
	<-resets

	e.must(state.Op{Kind: state.OpDeleteService, ID: "batchid"})
	for _, id := range ids {
		e.must(state.Op{Kind: state.OpSetDesiredState, ID: id, Desired: api.TaskStateShutdown})
	}
	for _, id := range ids {
		e.must(state.Op{Kind: state.OpDeleteTask, ID: id})
	}
	marker := e.assignTask(nodeA, api.ContainerSpec{Command: []string{"sleep"}})
	for ev := range events {
		if ev.ID == marker.ID {
			break
		}
		t.Errorf("event %s %s %s of the removed unrouted service sent", ev.Type, ev.Action, ev.ID)
	}
}
