package ui

import (
	"testing"

	"github.com/shoalproject/shoal/api"
)

func TestBuildStateCountsReplicasAndUpdateProgress(t *testing.T) {
	svc := &api.Service{ID: "s1", SpecVersion: 2, Revision: 3,
		Spec:         api.ServiceSpec{Name: "web", Labels: map[string]string{api.StackNamespaceLabel: "shop"}, Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 3}}},
		UpdateStatus: &api.UpdateStatus{State: api.UpdateStateUpdating},
		History:      []api.ServiceVersion{{Revision: 1}, {Revision: 2, Change: "replicas"}, {Revision: 3, Change: "force"}}}
	task := func(id string, slot, specVersion uint64, state, desired api.TaskState) *api.Task {
		return &api.Task{ID: id, ServiceID: "s1", ServiceName: "web", Slot: slot, NodeID: "n1", SpecVersion: specVersion,
			DesiredState: desired, Status: api.TaskStatus{State: state}}
	}
	tasks := []*api.Task{
		task("a", 1, 2, api.TaskStateRunning, api.TaskStateRunning), // updated
		task("b", 2, 1, api.TaskStateRunning, api.TaskStateRunning), // not yet
		task("c", 3, 2, api.TaskStateStarting, api.TaskStateRunning),
		task("d", 3, 1, api.TaskStateFailed, api.TaskStateShutdown),
	}
	nodes := []*api.Node{{ID: "n1", Spec: api.NodeSpec{Role: api.RoleManager, Availability: "active"}, Description: api.NodeDescription{Hostname: "vm"}, Status: api.NodeStatus{State: "ready"}}}
	st := buildState(nodes, []*api.Service{svc}, tasks)
	v := st.Services[0]
	if v.Running != 2 || v.Desired != 3 || v.Stack != "shop" || !v.Scalable {
		t.Fatalf("service view %+v: want 2/3 in stack shop, scalable", v)
	}
	if u := v.Update; u == nil || u.Done != 1 || u.Total != 3 || !u.Active || u.Rollback {
		t.Fatalf("update %+v: want an active update 1 of 3 done", v.Update)
	}
	if len(v.History) != 3 || v.History[0].Revision != 3 || !v.History[0].Current || v.History[1].Current {
		t.Fatalf("history %+v: want newest first, the current marked", v.History)
	}
	if len(v.Tasks) != 4 || v.Tasks[3].ID != "d" || v.Tasks[3].Current || v.Tasks[0].Node != "vm" {
		t.Fatalf("tasks %+v: want live ones first, the ended last, nodes by hostname", v.Tasks)
	}
	if st.Nodes[0].Tasks != 3 || len(st.Stacks) != 1 || st.Stacks[0].Running != 2 {
		t.Fatalf("nodes %+v stacks %+v", st.Nodes, st.Stacks)
	}
}
