package agentlink

import (
	"context"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// A removed quiet service is remembered only while it has tasks: the
// batch that removes the last one forgets it, so a long stream does not
// grow with every batch service ever removed.
func TestQuietServicesForgetGoneServiceWithoutTasks(t *testing.T) {
	store := state.NewStore()
	p := &state.LocalProposer{Store: store}
	must := func(ops ...state.Op) {
		t.Helper()
		if res, err := p.Propose(context.Background(), &state.Command{Atomic: true, Ops: ops}); err != nil || res.Err != nil {
			t.Fatalf("propose: %v %v", err, res.Err)
		}
	}
	must(state.Op{Kind: state.OpCreateService, Service: &api.Service{ID: "s", SpecVersion: 1, Spec: api.ServiceSpec{Name: "s"}}})
	must(state.Op{Kind: state.OpCreateTask, Task: &api.Task{ID: "t1", ServiceID: "s", Slot: 1, SpecVersion: 1}})
	// A service whose ID the first's extends: its task must not count.
	must(state.Op{Kind: state.OpCreateService, Service: &api.Service{ID: "s2", SpecVersion: 1, Spec: api.ServiceSpec{Name: "s2"}}})
	must(state.Op{Kind: state.OpCreateTask, Task: &api.Task{ID: "t2", ServiceID: "s2", Slot: 1, SpecVersion: 1}})
	q := newQuietServices()
	snapshot(store.Read(), q)

	// Events carry the index of the write that made them, as the store's.
	rm := api.Event{Type: api.EventService, Action: api.ActionRemove, ID: "s", Service: store.Read().Service("s")}
	must(state.Op{Kind: state.OpDeleteService, ID: "s"})
	rm.Index = store.Read().Index()
	if out := q.filter(store.Read(), []routeEvent{{Event: rm}}); len(out) != 0 || !q.gone["s"] {
		t.Fatalf("removal: sent %v, gone %v: want nothing sent, s remembered", out, q.gone)
	}
	task := store.Read().Task("t1")
	must(state.Op{Kind: state.OpDeleteTask, ID: "t1"})
	taskRm := api.Event{Type: api.EventTask, Action: api.ActionRemove, ID: "t1", Task: task, Index: store.Read().Index()}
	// A read newer than the events (more changes queued behind them) must
	// not decide: the service's other task removals may still be queued.
	must(state.Op{Kind: state.OpCreateService, Service: &api.Service{ID: "later", SpecVersion: 1, Spec: api.ServiceSpec{Name: "later"}}})
	if out := q.filter(store.Read(), []routeEvent{{Event: taskRm}}); len(out) != 0 || !q.gone["s"] {
		t.Fatalf("task removed, read ahead of the events: sent %v, gone %v: want nothing sent, s remembered", out, q.gone)
	}
	later := api.Event{Type: api.EventService, Action: api.ActionCreate, ID: "later", Service: store.Read().Service("later"), Index: store.Read().Index()}
	out := q.filter(store.Read(), []routeEvent{{Event: later}})
	if len(out) != 0 || len(q.gone) != 0 {
		t.Fatalf("last task removed: sent %v, gone %v: want nothing sent, s forgotten", out, q.gone)
	}
}
