//go:build linux

package agent_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/process"
	"github.com/shoalproject/shoal/internal/state"
)

// watching is the process runtime with a Watch whose reads the test
// sends, as the docker runtime sends them after the engine's events.
type watching struct {
	*process.Runtime
	reads chan runtime.Handle
}

func (w *watching) Watch(context.Context, string) (<-chan runtime.Handle, error) {
	return w.reads, nil
}

// startWatchedAgent runs an agent over a watching runtime, with the given
// unreachable grace.
func (e *env) startWatchedAgent(grace time.Duration) *watching {
	e.t.Helper()
	var w *watching
	e.startAgentWith(agent.Config{UnreachableGrace: grace}, func(rt *process.Runtime) runtime.Runtime {
		w = &watching{Runtime: rt, reads: make(chan runtime.Handle)}
		return w
	})
	return w
}

// assignPublishing assigns a task that publishes target port 8080.
func (e *env) assignPublishing() *api.Task {
	e.t.Helper()
	tk := &api.Task{
		ID: api.NewID(), ServiceID: "svcid", ServiceName: "web", Slot: 1, NodeID: nodeID, SpecVersion: 1,
		Spec:         api.TaskSpec{ContainerSpec: cmd("sleep", "1000")},
		Endpoint:     &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 8080}}},
		DesiredState: api.TaskStateRunning,
		Status:       api.TaskStatus{State: api.TaskStatePending},
	}
	e.must(state.Op{Kind: state.OpCreateTask, Task: tk})
	e.must(state.Op{Kind: state.OpAssignTask, ID: tk.ID, NodeID: nodeID, Message: "assigned"})
	return tk
}

func (w *watching) read(t *testing.T, eps ...api.TaskEndpoint) {
	t.Helper()
	select {
	case w.reads <- runtime.Handle{Running: true, Endpoints: eps}:
	case <-time.After(testTimeout):
		t.Fatal("the runner does not read the runtime's changes")
	}
}

func hasEndpoints(want ...api.TaskEndpoint) func(*api.Task) bool {
	return func(t *api.Task) bool {
		return t.Status.State == api.TaskStateRunning && len(t.Endpoints) == len(want) && (len(want) == 0 || reflect.DeepEqual(t.Endpoints, want))
	}
}

// A running task's endpoints follow what the runtime reads: a new host
// port replaces the old one, none takes the task out of every pool (it
// stays running), and ports that come back within the grace keep it.
func TestEndpointChangesAreReported(t *testing.T) {
	e := newEnv(t)
	w := e.startWatchedAgent(time.Hour)
	tk := e.assignPublishing()
	first := e.waitState(tk.ID, api.TaskStateRunning)
	if len(first.Endpoints) != 1 {
		t.Fatalf("endpoints %+v", first.Endpoints)
	}
	moved := api.TaskEndpoint{TargetPort: 8080, Protocol: "tcp", Addr: "127.0.0.1:40001"}
	w.read(t, moved)
	e.waitTask(tk.ID, "on its new port", hasEndpoints(moved))
	w.read(t)
	e.waitTask(tk.ID, "without endpoints", hasEndpoints())
	back := api.TaskEndpoint{TargetPort: 8080, Protocol: "tcp", Addr: "127.0.0.1:40002"}
	w.read(t, back)
	got := e.waitTask(tk.ID, "back on a port", hasEndpoints(back))
	if got.Status.Message != "started" || got.Status.Err != "" {
		t.Errorf("status %+v: a move should change only the endpoints", got.Status)
	}
}

// A task that misses a published port for the grace is failed, saying
// which, and stopped.
func TestUnreachableTaskFails(t *testing.T) {
	e := newEnv(t)
	w := e.startWatchedAgent(200 * time.Millisecond)
	tk := e.assignPublishing()
	pid := pidOf(t, e.waitState(tk.ID, api.TaskStateRunning))
	w.read(t)
	got := e.waitTask(tk.ID, "failed", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateFailed || got.Status.Err != "task: published port 8080/tcp lost" {
		t.Fatalf("status %+v", got.Status)
	}
	if alive(pid) {
		t.Errorf("the unreachable task's process %d still runs", pid)
	}
}

// A restarted agent confirms the endpoints of the tasks it adopts: its
// registration marked them unconfirmed (they take no traffic), and it
// reports them again once read from its runtime, unchanged or not, by a
// runtime that watches (its first read) or one that does not (what it
// listed as the agent started).
func TestRestartedAgentConfirmsAdoptedEndpoints(t *testing.T) {
	for _, watched := range []bool{false, true} {
		t.Run(map[bool]string{false: "unwatched", true: "watched"}[watched], func(t *testing.T) {
			e := newEnv(t)
			first := e.startAgent()
			tk := e.assignPublishing()
			before := e.waitState(tk.ID, api.TaskStateRunning)
			if len(before.Endpoints) != 1 || !before.TakesTraffic() {
				t.Fatalf("before the restart: %+v", before)
			}
			first.stop()
			tx, sub := e.store.Subscribe()
			defer sub.Close()
			if watched {
				w := e.startWatchedAgent(time.Hour)
				w.read(t, before.Endpoints...)
			} else {
				e.startAgent()
			}
			e.waitRegistered(tx.Index())
			got := e.waitTask(tk.ID, "confirmed", func(t *api.Task) bool { return !t.EndpointsUnconfirmed && t.TakesTraffic() })
			if !reflect.DeepEqual(got.Endpoints, before.Endpoints) {
				t.Errorf("endpoints %+v, want %+v", got.Endpoints, before.Endpoints)
			}
			evs, _ := sub.Drain()
			unconfirmed := false
			for _, ev := range evs {
				if ev.Task != nil && ev.Task.ID == tk.ID && ev.Task.EndpointsUnconfirmed {
					unconfirmed = true
				}
			}
			if !unconfirmed {
				t.Error("the new agent's registration did not take the task's endpoints out of the pools")
			}
		})
	}
}

// listsNoPorts is the process runtime listing its tasks without their
// endpoints, as it lists a sandboxed task whose node port another
// program took while no agent ran.
type listsNoPorts struct{ *process.Runtime }

func (l listsNoPorts) List(ctx context.Context) ([]runtime.Handle, error) {
	hs, err := l.Runtime.List(ctx)
	for i := range hs {
		hs[i].Endpoints = nil
	}
	return hs, err
}

// An adopted task whose runtime does not watch it, listed without a
// port it published, leaves every pool at once and is failed after the
// grace, as a watched one is.
func TestAdoptedTaskMissingAPortFails(t *testing.T) {
	e := newEnv(t)
	first := e.startAgent()
	tk := e.assignPublishing()
	pid := pidOf(t, e.waitState(tk.ID, api.TaskStateRunning))
	first.stop()
	e.startAgentWith(agent.Config{UnreachableGrace: 300 * time.Millisecond}, func(rt *process.Runtime) runtime.Runtime {
		return listsNoPorts{rt}
	})
	e.waitTask(tk.ID, "out of every pool", func(t *api.Task) bool { return len(t.Endpoints) == 0 && !t.EndpointsUnconfirmed })
	got := e.waitTask(tk.ID, "failed", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateFailed || got.Status.Err != "task: published port 8080/tcp lost" {
		t.Fatalf("status %+v", got.Status)
	}
	if alive(pid) {
		t.Errorf("the unreachable task's process %d still runs", pid)
	}
}
