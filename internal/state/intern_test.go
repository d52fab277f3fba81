package state_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

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
