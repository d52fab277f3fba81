//go:build linux

package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/netagent"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/process"
	"github.com/shoalproject/shoal/internal/state"
)

// nsRuntime is the process runtime giving its tasks a namespace path, as
// the docker runtime does for containers.
type nsRuntime struct{ *process.Runtime }

func (r nsRuntime) NetNS(ctx context.Context, id string) (string, error) {
	return "/ns/" + id, nil
}

// fakeNet records what the agent asks of its networking.
type fakeNet struct {
	store     *state.Store
	attachErr error

	mu    sync.Mutex
	calls []string
	// detached is closed by the first Detach.
	detached chan struct{}
	once     sync.Once
}

func (f *fakeNet) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeNet) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

// Sandbox asks for none: the process runtime would run the task in
// namespaces of its own (root only), which these tests do not look at.
func (f *fakeNet) Sandbox(t *api.Task, nets map[string]*api.Network) (*runtime.Sandbox, error) {
	f.record(fmt.Sprintf("sandbox(%d nets)", len(nets)))
	return nil, nil
}

func (f *fakeNet) Attach(req netagent.Request) error {
	// What the cluster shows when the task is plumbed: not running yet.
	st := f.store.Read().Task(req.Task.ID).Status.State
	f.record(fmt.Sprintf("attach(%s,%d nets,running=%v)", req.NetNS, len(req.Networks), st == api.TaskStateRunning))
	return f.attachErr
}

func (f *fakeNet) Detach(id string) error {
	f.record("detach")
	f.once.Do(func() { close(f.detached) })
	return nil
}

func (f *fakeNet) Prune(keep func(string) bool) error { return nil }

func (e *env) startNetAgent(net agent.Networker) *runningAgent {
	e.t.Helper()
	return e.startAgentWith(agent.Config{Networks: net}, func(rt *process.Runtime) runtime.Runtime { return nsRuntime{rt} })
}

// startAgentWith starts an agent with cfg (its node, manager, logger and
// runtime set here), on the process runtime as wrap gives it.
func (e *env) startAgentWith(cfg agent.Config, wrap func(*process.Runtime) runtime.Runtime) *runningAgent {
	e.t.Helper()
	rt, err := process.New(e.root, "127.0.0.1")
	if err != nil {
		e.t.Fatal(err)
	}
	cfg.NodeID, cfg.Addr, cfg.Runtimes = nodeID, "127.0.0.1", []runtime.Runtime{wrap(rt)}
	if cfg.Manager == nil {
		cfg.Manager = manager{e.d}
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	a := agent.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{t: e.t, rt: rt, cancel: cancel, done: make(chan error, 1)}
	go func() { ra.done <- a.Run(ctx) }()
	e.t.Cleanup(ra.stop)
	return ra
}

func (e *env) assignNetTask() *api.Task {
	e.t.Helper()
	e.must(state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "net1", Spec: api.NetworkSpec{Name: "appnet"}}})
	return e.assignTaskOn("appnet")
}

// assignTaskOn assigns a task on the network.
func (e *env) assignTaskOn(network string) *api.Task {
	e.t.Helper()
	tk := &api.Task{ID: api.NewID(), ServiceID: "svcid", ServiceName: "web", Slot: 1, NodeID: nodeID, SpecVersion: 1,
		Spec:         api.TaskSpec{ContainerSpec: cmd("sleep", "60"), Networks: []api.NetworkAttachment{{Target: network}}},
		DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStatePending}}
	e.must(state.Op{Kind: state.OpCreateTask, Task: tk})
	e.must(state.Op{Kind: state.OpAssignTask, ID: tk.ID, NodeID: nodeID, Message: "assigned"})
	return tk
}

// A task on a network is plumbed after it starts and before it is
// reported running, and unplumbed once it has stopped.
func TestTaskIsAttachedBeforeRunningAndDetachedAfterStop(t *testing.T) {
	e := newEnv(t)
	f := &fakeNet{store: e.store, detached: make(chan struct{})}
	e.startNetAgent(f)
	tk := e.assignNetTask()
	e.waitState(tk.ID, api.TaskStateRunning)
	want := fmt.Sprintf("sandbox(1 nets) attach(/ns/%s,1 nets,running=false)", tk.ID)
	if got := f.log(); got != want {
		t.Fatalf("networking calls %q, want %q", got, want)
	}
	e.shutdown(tk.ID)
	e.waitState(tk.ID, api.TaskStateShutdown)
	select {
	case <-f.detached:
	case <-testCtx(t).Done():
		t.Fatalf("the stopped task was never detached: %q", f.log())
	}
	if got := f.log(); got != want+" detach" {
		t.Fatalf("networking calls %q, want %q then detach", got, want)
	}
}

// A task on a network keeps running for the drain delay after it is
// marked to stop, before its stop signal: its service's VIP, in every
// task's namespace, drops it on the change that marks it, and connections
// opened before then are still served (without a published port too).
func TestTaskOnANetworkDrainsBeforeItsStopSignal(t *testing.T) {
	const drain = 700 * time.Millisecond
	e := newEnv(t)
	f := &fakeNet{store: e.store, detached: make(chan struct{})}
	e.startAgentWith(agent.Config{Networks: f, DrainDelay: drain}, func(rt *process.Runtime) runtime.Runtime { return nsRuntime{rt} })
	e.must(state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "net1", Spec: api.NetworkSpec{Name: "appnet"}}})
	tk := &api.Task{ID: api.NewID(), ServiceID: "svcid", ServiceName: "web", Slot: 1, NodeID: nodeID, SpecVersion: 1,
		Spec:                api.TaskSpec{ContainerSpec: cmd("sleep", "60"), Networks: []api.NetworkAttachment{{Target: "appnet"}}},
		NetworksAttachments: []api.NetworkAttachmentStatus{{Network: api.NetworkRef{ID: "net1", Name: "appnet"}, Addresses: []string{"10.0.1.5/24"}}},
		DesiredState:        api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStatePending}}
	e.must(state.Op{Kind: state.OpCreateTask, Task: tk})
	e.must(state.Op{Kind: state.OpAssignTask, ID: tk.ID, NodeID: nodeID, Message: "assigned"})
	e.waitState(tk.ID, api.TaskStateRunning)
	marked := time.Now()
	e.shutdown(tk.ID)
	e.waitState(tk.ID, api.TaskStateShutdown)
	if took := time.Since(marked); took < drain {
		t.Fatalf("the task on a network stopped %v after it was marked, within the drain delay %v", took, drain)
	}
}

// A task whose plumbing fails is stopped and reported failed, saying why.
func TestTaskWhoseNetworksFailIsFailed(t *testing.T) {
	e := newEnv(t)
	f := &fakeNet{store: e.store, attachErr: errors.New("veth refused"), detached: make(chan struct{})}
	e.startNetAgent(f)
	tk := e.assignNetTask()
	got := e.waitState(tk.ID, api.TaskStateFailed)
	if got.Status.State != api.TaskStateFailed || !strings.Contains(got.Status.Err, "veth refused") || !strings.Contains(got.Status.Message, "networks") {
		t.Fatalf("task status %+v, want failed with the attach error", got.Status)
	}
}

// reusedRuntime gives a task's namespace path from a new PID on every
// call after the first, as when its container died and its PID was taken
// while it was plumbed.
type reusedRuntime struct {
	*process.Runtime
	mu    sync.Mutex
	calls int
}

func (r *reusedRuntime) NetNS(ctx context.Context, id string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return fmt.Sprintf("/proc/%d/ns/net", 100+r.calls), nil
}

// A task whose namespace path changed while it was plumbed (its PID
// reused) is detached and failed: the plumbing may be in a stranger's
// namespace.
func TestTaskWhosePIDChangedWhilePlumbedIsDetachedAndFailed(t *testing.T) {
	e := newEnv(t)
	f := &fakeNet{store: e.store, detached: make(chan struct{})}
	e.startAgentWith(agent.Config{Networks: f}, func(rt *process.Runtime) runtime.Runtime { return &reusedRuntime{Runtime: rt} })
	tk := e.assignNetTask()
	got := e.waitState(tk.ID, api.TaskStateFailed)
	if !strings.Contains(got.Status.Err, "process changed") {
		t.Fatalf("task status %+v, want failed as its process changed while plumbed", got.Status)
	}
	select {
	case <-f.detached:
	case <-testCtx(t).Done():
		t.Fatalf("the task was never detached: %q", f.log())
	}
}

// A task that died while no agent ran is detached by the next agent once
// it reports it: nothing else would remove its networks.
func TestTaskThatDiedWhileDownIsDetached(t *testing.T) {
	e := newEnv(t)
	first := e.startNetAgent(&fakeNet{store: e.store, detached: make(chan struct{})})
	tk := e.assignNetTask()
	pid := pidOf(t, e.waitState(tk.ID, api.TaskStateRunning))
	killWhileDown(t, first, pid, tk.ID)

	f := &fakeNet{store: e.store, detached: make(chan struct{})}
	e.startNetAgent(f)
	e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	select {
	case <-f.detached:
	case <-testCtx(t).Done():
		t.Fatalf("the task that died while no agent ran was never detached: %q", f.log())
	}
}

// With networking off, a process task that names a network is rejected,
// saying why networks are off; one on its stack's default network only
// runs on the host's network, as a stack of process services does
// without root.
func TestProcessTaskNamingNetworksIsRejectedWithoutNetworking(t *testing.T) {
	e := newEnv(t)
	e.startAgentWith(agent.Config{NetworksOff: "overlay networks need root"}, func(rt *process.Runtime) runtime.Runtime { return rt })
	e.must(
		state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "net1", Spec: api.NetworkSpec{Name: "stk_back"}}},
		state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "net2", Spec: api.NetworkSpec{Name: "stk_default",
			Labels: map[string]string{api.StackNamespaceLabel: "stk"}}}},
	)
	named := e.assignTaskOn("stk_back")
	got := e.waitState(named.ID, api.TaskStateRejected)
	if e := got.Status.Err; !strings.Contains(e, "stk_back") || !strings.Contains(e, "networks are not isolated") || !strings.Contains(e, "overlay networks need root") {
		t.Errorf("rejection %q should name the network and why networks are off", e)
	}
	def := e.assignTaskOn("stk_default")
	e.waitState(def.ID, api.TaskStateRunning)
}

// A node that does not try networking (no reason given: --docker=false,
// shoal agent for now) leaves a process task that names networks on the
// host's network, as before.
func TestProcessTaskNamingNetworksRunsWhereNetworkingIsNotTried(t *testing.T) {
	e := newEnv(t)
	e.startAgentWith(agent.Config{}, func(rt *process.Runtime) runtime.Runtime { return rt })
	e.must(state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "net1", Spec: api.NetworkSpec{Name: "stk_back"}}})
	e.waitState(e.assignTaskOn("stk_back").ID, api.TaskStateRunning)
}
