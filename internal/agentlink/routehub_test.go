package agentlink_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/state"
)

// The routes streams of every node share one store subscription: a
// commit costs the store one queue whatever the number of nodes (issue
// 15: with one subscription a stream, a commit copied its events into
// two thousand queues inside the Raft apply at 1,000 nodes). It is let
// go with the last stream.
func TestRoutesStreamsShareOneSubscription(t *testing.T) {
	e := newEnv(t)
	routedService(e)
	base := e.store.Subscribers()
	ctx, cancel := context.WithCancel(testCtx(t))
	var wg sync.WaitGroup
	synced := make(chan struct{}, 4)
	// Two nodes, two agent processes each (a client is one process).
	for _, node := range []string{nodeA, nodeA, nodeB, nodeB} {
		c := e.client(node) // here: env's identities are not for goroutines
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.FollowRoutes(ctx, func(agentlink.Routes) { synced <- struct{}{} }, func(...api.Event) {})
		}()
	}
	for range 4 {
		select {
		case <-synced:
		case <-ctx.Done():
			t.Fatal("a routes stream never got its snapshot")
		}
	}
	if n := e.store.Subscribers(); n != base+1 {
		t.Fatalf("%d store subscriptions with 4 routes streams, %d without: want one more", n, base)
	}
	cancel()
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for e.store.Subscribers() != base {
		if time.Now().After(deadline) {
			t.Fatalf("%d store subscriptions after the streams ended, want %d", e.store.Subscribers(), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stream that starts while changes are being committed gets each one
// exactly once, after its snapshot: none falls between the snapshot and
// the shared subscription (the stream joins first), and none of those
// the snapshot holds comes again (it skips them by index). Every stream
// ends with the store's tasks, and sees each task's versions only rise.
func TestRoutesStreamsStartedDuringChangesConverge(t *testing.T) {
	e := newEnv(t)
	routedService(e)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()

	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		var ids []string
		for i := 0; ; i++ {
			// A commit a millisecond: many straddle each stream's start,
			// and a loaded machine's streams still catch up in time.
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			tk := &api.Task{ID: api.NewID(), ServiceID: "svcid", ServiceName: "web", Slot: uint64(i + 1), SpecVersion: 1,
				DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStatePending}}
			ops := []state.Op{{Kind: state.OpCreateTask, Task: tk}}
			if len(ids) > 0 {
				ops = append(ops, state.Op{Kind: state.OpSetDesiredState, ID: ids[i%len(ids)], Desired: api.TaskStateShutdown})
			}
			if len(ids) > 8 {
				ops = append(ops, state.Op{Kind: state.OpDeleteTask, ID: ids[0]})
				ids = ids[1:]
			}
			e.must(ops...)
			ids = append(ids, tk.ID)
		}
	}()

	const streams = 6
	views := make([]*routesView, streams)
	var wg sync.WaitGroup
	for i := range views {
		v := &routesView{tasks: map[string]uint64{}, synced: make(chan struct{})}
		views[i] = v
		c := e.clientWith(e.ident(fmt.Sprintf("node%021d", i)), "127.0.0.9")
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.FollowRoutes(ctx, v.reset, v.apply)
		}()
		select {
		case <-v.synced:
		case <-ctx.Done():
			t.Fatal("a routes stream never got its snapshot")
		}
	}
	close(stop)
	<-wrote
	// A last change, to know when each stream has everything.
	e.must(state.Op{Kind: state.OpCreateTask, Task: &api.Task{ID: "last", ServiceID: "svcid", ServiceName: "web", Slot: 1 << 20, SpecVersion: 1,
		DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStatePending}}})
	want := map[string]uint64{}
	for _, tk := range e.store.Read().Tasks() {
		want[tk.ID] = tk.Version
	}
	for i, v := range views {
		if err := v.waitFor(ctx, "last"); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		v.mu.Lock()
		if v.err != nil {
			t.Errorf("stream %d: %v", i, v.err)
		}
		if len(v.tasks) != len(want) {
			t.Errorf("stream %d holds %d tasks, the store %d", i, len(v.tasks), len(want))
		}
		for id, ver := range want {
			if v.tasks[id] != ver {
				t.Errorf("stream %d: task %s at version %d, the store's %d", i, id, v.tasks[id], ver)
			}
		}
		v.mu.Unlock()
	}
	cancel()
	wg.Wait()
}

// routedService creates a service the ingress routes (it has labels), so
// that its tasks go to every routes stream.
func routedService(e *env) {
	e.must(state.Op{Kind: state.OpCreateService, Service: &api.Service{ID: "svcid", SpecVersion: 1, Spec: api.ServiceSpec{Name: "web",
		Labels: map[string]string{"traefik.http.routers.web.rule": "PathPrefix(`/`)"}}}})
}

// routesView is what a routes stream's reader builds: each task's
// version.
type routesView struct {
	mu     sync.Mutex
	tasks  map[string]uint64
	err    error // the first change that came twice or out of order
	synced chan struct{}
	once   sync.Once
	change chan struct{}
}

func (v *routesView) reset(r agentlink.Routes) {
	v.mu.Lock()
	clear(v.tasks)
	for _, tk := range r.Tasks {
		v.tasks[tk.ID] = tk.Version
	}
	v.mu.Unlock()
	v.once.Do(func() { close(v.synced) })
	v.notify()
}

func (v *routesView) apply(evs ...api.Event) {
	v.mu.Lock()
	for _, ev := range evs {
		if ev.Type != api.EventTask {
			continue
		}
		if ev.Action == api.ActionRemove {
			delete(v.tasks, ev.ID)
			continue
		}
		if have, ok := v.tasks[ev.ID]; ok && ev.Task.Version <= have && v.err == nil {
			v.err = fmt.Errorf("task %s: version %d came after %d (sent twice, or out of order)", ev.ID, ev.Task.Version, have)
		}
		v.tasks[ev.ID] = ev.Task.Version
	}
	v.mu.Unlock()
	v.notify()
}

func (v *routesView) notify() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.change == nil {
		v.change = make(chan struct{})
	}
	close(v.change)
	v.change = make(chan struct{})
}

// waitFor waits until the view holds task id.
func (v *routesView) waitFor(ctx context.Context, id string) error {
	for {
		v.mu.Lock()
		_, ok := v.tasks[id]
		if v.change == nil {
			v.change = make(chan struct{})
		}
		ch := v.change
		v.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("task %s never came: %w", id, ctx.Err())
		}
	}
}
