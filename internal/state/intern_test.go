package state_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// Tasks of a service share its spec in the store (applied from the log or
// restored from a snapshot), and still read, and encode to JSON, exactly
// as the task written: the API returns the same task.
func TestTaskSpecSharedWithServiceReadsAsWritten(t *testing.T) {
	f := state.NewFSM(state.NewStore())
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := simService(0)
	svc.Spec.Labels = map[string]string{"team": "a"}
	svc.Spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 8080, Protocol: "tcp"}}}
	fsmApply(t, f, 1, &state.Command{Time: at, Ops: []state.Op{{Kind: state.OpCreateService, Service: svc}}})
	a := api.NewTask(svc, 1, "", at)
	b := api.NewTask(svc, 2, "", at)
	fsmApply(t, f, 2, &state.Command{Time: at, Ops: []state.Op{{Kind: state.OpCreateTask, Task: a}, {Kind: state.OpCreateTask, Task: b}}})

	check := func(how string, tx *state.ReadTx) {
		t.Helper()
		stored := tx.Service(svc.ID)
		for _, want := range []*api.Task{a, b} {
			got := tx.Task(want.ID)
			if !reflect.DeepEqual(got.Spec, want.Spec) || !reflect.DeepEqual(got.ServiceLabels, want.ServiceLabels) || !reflect.DeepEqual(got.Endpoint, want.Endpoint) {
				t.Errorf("%s: task %s reads spec %+v, labels %v, endpoint %+v; want %+v, %v, %+v", how, want.ID,
					got.Spec, got.ServiceLabels, got.Endpoint, want.Spec, want.ServiceLabels, want.Endpoint)
			}
			// The API encodes the stored task: the same JSON as the task
			// written, but for what the store sets (its meta and index).
			w := *want
			w.Meta, w.CreatedIndex = got.Meta, got.CreatedIndex
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(&w)
			if !bytes.Equal(gj, wj) {
				t.Errorf("%s: task %s encodes as\n%s\nwant\n%s", how, want.ID, gj, wj)
			}
			// Shared, not copied: one placement, labels map and endpoint
			// spec for the service and all its tasks.
			if got.Spec.Placement != stored.Spec.TaskTemplate.Placement ||
				reflect.ValueOf(got.ServiceLabels).UnsafePointer() != reflect.ValueOf(stored.Spec.Labels).UnsafePointer() ||
				got.Endpoint != stored.Spec.EndpointSpec {
				t.Errorf("%s: task %s holds its own copy of the service's spec", how, want.ID)
			}
		}
	}
	check("applied", f.Store().Read())

	check("restored", restored(t, f))
}

// A task whose spec differs from its service's (none the orchestrator
// makes, but the log may hold one) keeps its own.
func TestTaskSpecNotSharedWhenItDiffers(t *testing.T) {
	f := state.NewFSM(state.NewStore())
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := simService(0)
	fsmApply(t, f, 1, &state.Command{Time: at, Ops: []state.Op{{Kind: state.OpCreateService, Service: svc}}})
	tk := api.NewTask(svc, 1, "", at)
	tk.Spec.ContainerSpec.Command = []string{"sleep", "1"}
	fsmApply(t, f, 2, &state.Command{Time: at, Ops: []state.Op{{Kind: state.OpCreateTask, Task: tk}}})
	if got := f.Store().Read().Task(tk.ID).Spec.ContainerSpec.Command; !reflect.DeepEqual(got, []string{"sleep", "1"}) {
		t.Errorf("task's command is %q, want its own %q", got, []string{"sleep", "1"})
	}
}

// Tasks applied from separate log entries, or restored from a snapshot,
// share the strings they repeat (their node's ID, their statuses'
// messages) instead of each holding its own decoded copy, hold their
// histories without room to spare, and read exactly as written.
func TestTasksShareRepeatedStrings(t *testing.T) {
	f := state.NewFSM(state.NewStore())
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	svc := simService(0)
	fsmApply(t, f, 1, &state.Command{Time: at, Ops: []state.Op{{Kind: state.OpCreateService, Service: svc}}})
	a, b := api.NewTask(svc, 1, "", at), api.NewTask(svc, 2, "", at)
	idx := uint64(2)
	for _, tk := range []*api.Task{a, b} {
		for _, op := range []state.Op{
			{Kind: state.OpCreateTask, Task: tk},
			{Kind: state.OpAssignTask, ID: tk.ID, NodeID: "node-1", Message: "scheduler assigned task to node"},
			{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: tk.ID, Status: api.TaskStatus{State: api.TaskStateStarting, Message: "starting"}}},
			{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: tk.ID, Status: api.TaskStatus{State: api.TaskStateRunning, Message: "started", RuntimeID: "pid-" + tk.ID}}},
		} {
			fsmApply(t, f, idx, &state.Command{Time: at, Ops: []state.Op{op}})
			idx++
		}
	}
	check := func(how string, tx *state.ReadTx) {
		t.Helper()
		ga, gb := tx.Task(a.ID), tx.Task(b.ID)
		same := func(what, x, y string) {
			t.Helper()
			if x != y {
				t.Fatalf("%s: %s: %q and %q differ", how, what, x, y)
			}
			if unsafe.StringData(x) != unsafe.StringData(y) {
				t.Errorf("%s: %s: each task holds its own copy of %q", how, what, x)
			}
		}
		same("node ID", ga.NodeID, gb.NodeID)
		if ga.NodeID != "node-1" || ga.Status.State != api.TaskStateRunning || ga.Status.Message != "started" || ga.Status.RuntimeID != "pid-"+a.ID {
			t.Fatalf("%s: task reads %s on %q, %q, %q", how, ga.Status.State, ga.NodeID, ga.Status.Message, ga.Status.RuntimeID)
		}
		if len(ga.History) != len(gb.History) || len(ga.History) != 5 {
			t.Fatalf("%s: histories of %d and %d statuses, want 5 (new, pending, assigned, starting, running)", how, len(ga.History), len(gb.History))
		}
		// Room for more statuses is a task's memory spent on nothing.
		if cap(ga.History) != len(ga.History) {
			t.Errorf("%s: a history of %d statuses has room for %d", how, len(ga.History), cap(ga.History))
		}
		for i := range ga.History {
			same(fmt.Sprintf("history[%d] (%s) message", i, ga.History[i].State), ga.History[i].Message, gb.History[i].Message)
		}
		same("status message", ga.Status.Message, gb.Status.Message)
	}
	check("applied", f.Store().Read())
	// A manager that restored a snapshot (after a restart, or a follower
	// that fell behind) holds its tasks as compactly.
	check("restored", restored(t, f))
}
