//go:build linux

package agent_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/process"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait, so a bug fails a test instead of hanging
// it; it is not a timing assertion.
const testTimeout = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

const nodeID = "agentnode0000000000000001"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// manager lets the agent reach an in-process dispatcher.
type manager struct{ d *dispatcher.Dispatcher }

func (m manager) Register(ctx context.Context, reg api.NodeRegistration) (agent.Session, error) {
	s, err := m.d.Register(ctx, reg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// env is a one-node cluster: a store behind a LocalProposer, a running
// dispatcher, and agents over one process runtime root. The test plays the
// orchestrator and the scheduler by writing tasks itself.
type env struct {
	t     *testing.T
	store *state.Store
	p     *state.LocalProposer
	d     *dispatcher.Dispatcher
	root  string
	// stopDispatcher stops the dispatcher's current run.
	stopDispatcher func()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := state.NewStore()
	p := &state.LocalProposer{Store: s}
	// A long period: no node goes down while a test runs, however slow.
	d := &dispatcher.Dispatcher{Store: s, Proposer: p, Logger: quiet, HeartbeatPeriod: time.Minute}
	dir, err := os.MkdirTemp("", "shoal-agent-test")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: a runtime's waiter may still be
	// recording a killed task's exit when the other cleanups are done.
	t.Cleanup(func() { removeSettled(t, dir) })
	e := &env{t: t, store: s, p: p, d: d, root: filepath.Join(dir, "tasks")}
	e.stopDispatcher = d.Start(context.Background())
	t.Cleanup(func() { e.stopDispatcher() })
	// Registered after the dispatcher's stop, so it runs before it: every
	// process the tests started is killed, whatever runtime started it.
	t.Cleanup(e.killAll)
	return e
}

// removeSettled removes dir, trying again while files still appear in it.
func removeSettled(t *testing.T, dir string) {
	var err error
	for i := 0; i < 50; i++ {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("remove %s: %v", dir, err)
}

// killAll stops every task still running under the root.
func (e *env) killAll() {
	rt, err := process.New(e.root, "127.0.0.1")
	if err != nil {
		e.t.Errorf("cleanup: %v", err)
		return
	}
	defer rt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	hs, err := rt.List(ctx)
	if err != nil {
		e.t.Errorf("cleanup: list: %v", err)
	}
	for _, h := range hs {
		if h.Running {
			if err := rt.Stop(ctx, h.TaskID, 0); err != nil {
				e.t.Errorf("cleanup: stop %s: %v", h.TaskID, err)
			}
		}
	}
}

// runningAgent is an agent whose Run is under way.
type runningAgent struct {
	t      *testing.T
	rt     *process.Runtime
	cancel context.CancelFunc
	done   chan error
	closed bool
}

// startAgent runs an agent with a new process runtime over the env's root.
func (e *env) startAgent() *runningAgent {
	e.t.Helper()
	return e.startAgentLogging(quiet)
}

// startAgentLogging is startAgent with the agent logging to log.
func (e *env) startAgentLogging(log *slog.Logger) *runningAgent {
	e.t.Helper()
	rt, err := process.New(e.root, "127.0.0.1")
	if err != nil {
		e.t.Fatal(err)
	}
	a := agent.New(agent.Config{
		NodeID:   nodeID,
		Addr:     "127.0.0.1",
		Runtimes: []runtime.Runtime{rt},
		Manager:  manager{e.d},
		Logger:   log,
	})
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{t: e.t, rt: rt, cancel: cancel, done: make(chan error, 1)}
	go func() { ra.done <- a.Run(ctx) }()
	e.t.Cleanup(ra.stop)
	return ra
}

// stop ends the agent's Run (its tasks keep running) and closes its
// runtime.
func (ra *runningAgent) stop() {
	if ra.closed {
		return
	}
	ra.closed = true
	ra.cancel()
	select {
	case err := <-ra.done:
		if err != nil {
			ra.t.Errorf("agent Run: %v", err)
		}
	case <-time.After(testTimeout):
		ra.t.Error("agent Run did not return")
	}
	ra.rt.Close()
}

func (e *env) must(ops ...state.Op) {
	e.t.Helper()
	res, err := e.p.Propose(context.Background(), &state.Command{Atomic: true, Ops: ops})
	if err != nil || res.Err != nil {
		e.t.Fatalf("propose: %v %v", err, res.Err)
	}
}

// assignTask creates a task already placed on the node, pending, and
// assigns it, as the orchestrator and scheduler would.
func (e *env) assignTask(spec api.ContainerSpec) *api.Task {
	e.t.Helper()
	tk := &api.Task{
		ID:           api.NewID(),
		ServiceID:    "svcid",
		ServiceName:  "web",
		Slot:         1,
		NodeID:       nodeID,
		SpecVersion:  1,
		Spec:         api.TaskSpec{ContainerSpec: spec},
		DesiredState: api.TaskStateRunning,
		Status:       api.TaskStatus{State: api.TaskStatePending, Message: "pending task scheduling"},
	}
	e.must(state.Op{Kind: state.OpCreateTask, Task: tk})
	e.must(state.Op{Kind: state.OpAssignTask, ID: tk.ID, NodeID: nodeID, Message: "assigned"})
	return tk
}

func cmd(argv ...string) api.ContainerSpec { return api.ContainerSpec{Command: argv} }

// waitTask waits until the stored task satisfies ok.
func (e *env) waitTask(id, what string, ok func(*api.Task) bool) *api.Task {
	e.t.Helper()
	tx, sub := e.store.Subscribe()
	defer sub.Close()
	if tk := tx.Task(id); tk != nil && ok(tk) {
		return tk
	}
	ctx := testCtx(e.t)
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			e.t.Fatalf("task %s never %s (now %+v): %v", id, what, e.store.Read().Task(id), err)
		}
		for _, ev := range evs {
			if ev.Type == api.EventTask && ev.ID == id && ev.Task != nil && ok(ev.Task) {
				return ev.Task
			}
		}
	}
}

func (e *env) waitState(id string, st api.TaskState) *api.Task {
	e.t.Helper()
	return e.waitTask(id, st.String(), func(t *api.Task) bool { return t.Status.State >= st })
}

func (e *env) shutdown(id string) {
	e.t.Helper()
	e.must(state.Op{Kind: state.OpSetDesiredState, ID: id, Desired: api.TaskStateShutdown})
}

func pidOf(t *testing.T, tk *api.Task) int {
	t.Helper()
	pid, err := strconv.Atoi(tk.Status.RuntimeID)
	if err != nil || pid <= 0 {
		t.Fatalf("task %s RuntimeID %q is not a PID", tk.ID, tk.Status.RuntimeID)
	}
	return pid
}

// alive reports whether the process runs (a zombie does not).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	st := data[i+2]
	return st != 'Z' && st != 'X'
}

// processesOf returns the live processes that run task id, found by the
// SHOAL_TASK_ID the process runtime puts in their environment.
func processesOf(t *testing.T, id string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("SHOAL_TASK_ID=" + id + "\x00")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, want) || !alive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func states(tk *api.Task) []api.TaskState {
	var out []api.TaskState
	for _, h := range tk.History {
		out = append(out, h.State)
	}
	return out
}

func equalStates(a, b []api.TaskState) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAssignedTaskRuns(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	tk := e.assignTask(cmd("sleep", "1000"))
	got := e.waitState(tk.ID, api.TaskStateRunning)
	if got.Status.State != api.TaskStateRunning {
		t.Fatalf("task %s: %+v", got.Status.State, got.Status)
	}
	pid := pidOf(t, got)
	if !alive(pid) {
		t.Fatalf("pid %d does not run", pid)
	}
	if cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); !bytes.Equal(cmdline, []byte("sleep\x001000\x00")) {
		t.Errorf("pid %d runs %q", pid, cmdline)
	}
	if ps := processesOf(t, tk.ID); len(ps) != 1 || ps[0] != pid {
		t.Errorf("processes of the task: %v, want [%d]", ps, pid)
	}
	want := []api.TaskState{api.TaskStateAssigned, api.TaskStateAccepted, api.TaskStatePreparing, api.TaskStateStarting, api.TaskStateRunning}
	if !equalStates(states(got), want) {
		t.Errorf("history %v, want %v", states(got), want)
	}
	for i := 1; i < len(got.History); i++ {
		if got.History[i].Timestamp.Before(got.History[i-1].Timestamp) {
			t.Errorf("history times go backwards: %+v", got.History)
		}
	}
	if n := e.store.Read().Node(nodeID); n == nil || n.Status.State != api.NodeStateReady || n.Status.Addr != "127.0.0.1" || !n.HasRuntime(api.RuntimeProcess) {
		t.Errorf("node %+v", n)
	}
}

func TestTaskExitZeroCompletes(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	tk := e.assignTask(cmd("/bin/sh", "-c", "exit 0"))
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateComplete || got.Status.ExitCode == nil || *got.Status.ExitCode != 0 || got.Status.Err != "" {
		t.Fatalf("status %+v", got.Status)
	}
	want := []api.TaskState{api.TaskStateAssigned, api.TaskStateAccepted, api.TaskStatePreparing, api.TaskStateStarting, api.TaskStateRunning, api.TaskStateComplete}
	if !equalStates(states(got), want) {
		t.Errorf("history %v, want %v", states(got), want)
	}
}

func TestTaskNonZeroExitFails(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	tk := e.assignTask(cmd("/bin/sh", "-c", "exit 3"))
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	st := got.Status
	if st.State != api.TaskStateFailed || st.Err != "task: non-zero exit (3)" || st.ExitCode == nil || *st.ExitCode != 3 {
		t.Fatalf("status %+v", st)
	}
	if st.RuntimeID == "" {
		t.Error("failed status lost the RuntimeID")
	}
}

func TestDesiredShutdownSendsSIGTERM(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	spec := cmd("sleep", "1000")
	// If SIGTERM did not stop it, SIGKILL would come only after the test
	// gave up.
	spec.StopGracePeriod = api.DurationPtr(time.Hour)
	tk := e.assignTask(spec)
	pid := pidOf(t, e.waitState(tk.ID, api.TaskStateRunning))
	e.shutdown(tk.ID)
	got := e.waitTask(tk.ID, "shut down", func(t *api.Task) bool { return t.Status.State.Terminal() })
	st := got.Status
	if st.State != api.TaskStateShutdown {
		t.Fatalf("status %+v", st)
	}
	// 128+15: the process was ended by SIGTERM.
	if st.ExitCode == nil || *st.ExitCode != 128+int(syscall.SIGTERM) {
		t.Errorf("exit code %v, want %d (killed by SIGTERM)", st.ExitCode, 128+int(syscall.SIGTERM))
	}
	if alive(pid) {
		t.Errorf("pid %d still runs", pid)
	}
}

func TestMissingProgramRejected(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	for _, prog := range []string{"/nonexistent/shoal-test-program", "shoal-no-such-program-on-path"} {
		tk := e.assignTask(cmd(prog, "arg"))
		got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
		st := got.Status
		if st.State != api.TaskStateRejected {
			t.Errorf("%s: status %+v, want rejected", prog, st)
			continue
		}
		if !strings.Contains(st.Err, prog) || strings.HasPrefix(st.Err, "start task") || strings.Contains(st.Err, "rejected") {
			t.Errorf("%s: Err %q, want the OS error alone", prog, st.Err)
		}
		if !strings.Contains(st.Err, "no such file or directory") && !strings.Contains(st.Err, "not found") {
			t.Errorf("%s: Err %q is not the lookup error", prog, st.Err)
		}
		// Nothing of the task is left under the root.
		if _, err := os.Stat(filepath.Join(e.root, tk.ID)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: task folder left behind: %v", prog, err)
		}
	}
}

func TestDockerTaskRejectedOnProcessAgent(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	tk := e.assignTask(api.ContainerSpec{Image: "nginx:alpine"})
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateRejected || got.Status.Err != "runtime docker is not available on this node" {
		t.Fatalf("status %+v", got.Status)
	}
}

// probe assigns a short-lived task and waits for it to end: the agent has
// then applied every assignment written before it.
func (e *env) probe() {
	e.t.Helper()
	tk := e.assignTask(cmd("/bin/sh", "-c", "exit 0"))
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateComplete {
		e.t.Fatalf("probe task: %+v", got.Status)
	}
}

func TestRestartAdoptsRunningTask(t *testing.T) {
	e := newEnv(t)
	first := e.startAgent()
	tk := e.assignTask(cmd("sleep", "1000"))
	before := e.waitState(tk.ID, api.TaskStateRunning)
	pid := pidOf(t, before)
	first.stop()
	if !alive(pid) {
		t.Fatalf("the task's process %d ended with the agent", pid)
	}

	e.startAgent()
	e.probe()
	after := e.store.Read().Task(tk.ID)
	if after.Status.State != api.TaskStateRunning || after.Status.RuntimeID != before.Status.RuntimeID {
		t.Fatalf("after restart: %+v, before %+v", after.Status, before.Status)
	}
	if after.Version != before.Version || len(after.History) != len(before.History) {
		t.Errorf("the adopted task was written again: %+v", after.History)
	}
	if ps := processesOf(t, tk.ID); len(ps) != 1 || ps[0] != pid {
		t.Fatalf("processes of the task: %v, want only %d", ps, pid)
	}

	// The new agent controls the adopted process.
	e.shutdown(tk.ID)
	got := e.waitTask(tk.ID, "shut down", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateShutdown {
		t.Fatalf("status %+v", got.Status)
	}
	if alive(pid) {
		t.Errorf("adopted pid %d still runs after shutdown", pid)
	}
}

func TestRestartStopsUnknownSurvivor(t *testing.T) {
	e := newEnv(t)
	first := e.startAgent()
	tk := e.assignTask(cmd("sleep", "1000"))
	pid := pidOf(t, e.waitState(tk.ID, api.TaskStateRunning))
	first.stop()
	// The managers forget the task while no agent runs.
	e.must(state.Op{Kind: state.OpDeleteTask, ID: tk.ID})

	logs := &logWatch{msgs: make(chan string, 64)}
	e.startAgentLogging(slog.New(logs))
	e.probe()
	logs.await(t, "removed a task the cluster no longer has")
	if ps := processesOf(t, tk.ID); len(ps) != 0 || alive(pid) {
		t.Errorf("the unknown survivor still runs: %v", ps)
	}
	if _, err := os.Stat(filepath.Join(e.root, tk.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unknown survivor's folder is left: %v", err)
	}
	if e.store.Read().Task(tk.ID) != nil {
		t.Error("the deleted task came back")
	}
}

// killWhileDown stops the agent, then kills its task's process pid. The
// old runtime, still its parent here, records how.
func killWhileDown(t *testing.T, a *runningAgent, pid int, taskID string) {
	t.Helper()
	a.cancel()
	<-a.done
	a.closed = true
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := a.rt.Wait(testCtx(t), taskID); err != nil {
		t.Fatal(err)
	}
	a.rt.Close()
}

func TestRestartReportsTaskThatDiedWhileDown(t *testing.T) {
	e := newEnv(t)
	first := e.startAgent()
	tk := e.assignTask(cmd("sleep", "1000"))
	pid := pidOf(t, e.waitState(tk.ID, api.TaskStateRunning))
	killWhileDown(t, first, pid, tk.ID)

	e.startAgent()
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	st := got.Status
	if st.State != api.TaskStateFailed || !strings.HasPrefix(st.Message, "task exited while the agent was down: ") || st.Err != "task: non-zero exit (137)" {
		t.Fatalf("status %+v, want the documented error and when it ended", st)
	}
	if st.ExitCode == nil || *st.ExitCode != 128+int(syscall.SIGKILL) {
		t.Errorf("exit code %v, want %d", st.ExitCode, 128+int(syscall.SIGKILL))
	}
	if ps := processesOf(t, tk.ID); len(ps) != 0 {
		t.Errorf("the dead task was started again: %v", ps)
	}
}

func TestRestartReportsLostTask(t *testing.T) {
	e := newEnv(t)
	first := e.startAgent()
	tk := e.assignTask(cmd("sleep", "1000"))
	pid := pidOf(t, e.waitState(tk.ID, api.TaskStateRunning))
	first.cancel()
	<-first.done
	first.closed = true
	if err := first.rt.Stop(testCtx(t), tk.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := first.rt.Remove(testCtx(t), tk.ID); err != nil {
		t.Fatal(err)
	}
	first.rt.Close()
	if alive(pid) {
		t.Fatalf("pid %d still runs", pid)
	}

	// No runtime knows the task any more, yet the managers say it runs.
	e.startAgent()
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateFailed || got.Status.Message != "task lost" {
		t.Fatalf("status %+v", got.Status)
	}
	if ps := processesOf(t, tk.ID); len(ps) != 0 {
		t.Errorf("the lost task was started again: %v", ps)
	}
}

// flakyManager's first session breaks before its first assignment, as a
// network session may.
type flakyManager struct {
	manager
	broken chan struct{}
}

type brokenSession struct{ agent.Session }

func (s brokenSession) Assignments(ctx context.Context) (api.Assignments, error) {
	return api.Assignments{}, errors.New("connection reset")
}

func (m *flakyManager) Register(ctx context.Context, reg api.NodeRegistration) (agent.Session, error) {
	s, err := m.manager.Register(ctx, reg)
	if err != nil {
		return nil, err
	}
	select {
	case <-m.broken:
		return s, nil
	default:
		close(m.broken)
		return brokenSession{s}, nil
	}
}

func TestRestartAdoptsAfterABrokenFirstSession(t *testing.T) {
	e := newEnv(t)
	first := e.startAgent()
	tk := e.assignTask(cmd("sleep", "1000"))
	before := e.waitState(tk.ID, api.TaskStateRunning)
	pid := pidOf(t, before)
	first.stop()

	rt, err := process.New(e.root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	fm := &flakyManager{manager: manager{e.d}, broken: make(chan struct{})}
	a := agent.New(agent.Config{NodeID: nodeID, Addr: "127.0.0.1", Runtimes: []runtime.Runtime{rt}, Manager: fm, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	ra := &runningAgent{t: t, rt: rt, cancel: cancel, done: make(chan error, 1)}
	go func() { ra.done <- a.Run(ctx) }()
	t.Cleanup(ra.stop)

	e.probe()
	<-fm.broken
	after := e.store.Read().Task(tk.ID)
	if after.Status.State != api.TaskStateRunning || after.Status.RuntimeID != before.Status.RuntimeID || after.Version != before.Version {
		t.Fatalf("after a broken first session: %+v, before %+v", after.Status, before.Status)
	}
	if ps := processesOf(t, tk.ID); len(ps) != 1 || ps[0] != pid {
		t.Fatalf("processes of the task: %v, want only %d", ps, pid)
	}
	// The adopted task is under the agent's control.
	e.shutdown(tk.ID)
	if got := e.waitTask(tk.ID, "shut down", func(t *api.Task) bool { return t.Status.State.Terminal() }); got.Status.State != api.TaskStateShutdown {
		t.Fatalf("status %+v", got.Status)
	}
}

// waitRegistered waits until the node registers after index after.
func (e *env) waitRegistered(after uint64) {
	e.t.Helper()
	tx, sub := e.store.Subscribe()
	defer sub.Close()
	if n := tx.Node(nodeID); n != nil && n.Version > after && n.Status.State == api.NodeStateReady {
		return
	}
	ctx := testCtx(e.t)
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			e.t.Fatalf("the node never registered again: %v", err)
		}
		for _, ev := range evs {
			if ev.Type == api.EventNode && ev.ID == nodeID && ev.Node.Status.State == api.NodeStateReady {
				return
			}
		}
	}
}

// A session that breaks (the managers restarted, the connection dropped)
// leaves the tasks running and watched: the agent registers again, and a
// task that exits afterwards is reported; one the managers stop is
// stopped. Nothing is started twice.
func TestTasksStayWatchedAcrossSessions(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	crash := e.assignTask(cmd("sleep", "1000"))
	stop := e.assignTask(cmd("sleep", "1000"))
	crashPID := pidOf(t, e.waitState(crash.ID, api.TaskStateRunning))
	stopPID := pidOf(t, e.waitState(stop.ID, api.TaskStateRunning))

	after := e.store.Index()
	e.stopDispatcher()
	e.stopDispatcher = e.d.Start(context.Background())
	e.waitRegistered(after)

	if err := syscall.Kill(crashPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	got := e.waitTask(crash.ID, "failed", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateFailed || got.Status.ExitCode == nil || *got.Status.ExitCode != 137 {
		t.Fatalf("killed task after the new session: %+v", got.Status)
	}
	e.shutdown(stop.ID)
	if got := e.waitTask(stop.ID, "shut down", func(t *api.Task) bool { return t.Status.State.Terminal() }); got.Status.State != api.TaskStateShutdown {
		t.Fatalf("stopped task: %+v", got.Status)
	}
	if alive(stopPID) {
		t.Errorf("pid %d still runs after shutdown", stopPID)
	}
	for _, id := range []string{crash.ID, stop.ID} {
		if ps := processesOf(t, id); len(ps) != 0 {
			t.Errorf("task %s still has processes %v", id, ps)
		}
	}
}

// TestSwarmTemplatesExpandWhenTheTaskStarts: the agent expands
// {{.Node.ID}} and the other Swarm templates of a task's environment
// with its own node and the task (swarmprom's node-exporter reads
// {{.Node.ID}}); a template that can't expand rejects the task, naming
// it.
func TestSwarmTemplatesExpandWhenTheTaskStarts(t *testing.T) {
	e := newEnv(t)
	e.startAgent()
	out := filepath.Join(t.TempDir(), "env")
	spec := cmd("sh", "-c", `printf '%s\n' "$NODE" "$TASK" "$SVC" "$OS" > `+out)
	spec.Env = []string{"NODE={{.Node.ID}}", "TASK={{.Task.Name}} {{.Task.Slot}}", "SVC={{.Service.ID}} {{.Service.Name}}", "OS={{.Node.Platform.OS}}"}
	tk := e.assignTask(spec)
	e.waitState(tk.ID, api.TaskStateComplete)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := nodeID + "\n" + tk.FullName() + " 1\nsvcid web\nlinux\n"
	if string(b) != want {
		t.Errorf("the task saw\n%s\nwant\n%s", b, want)
	}

	bad := cmd("true")
	bad.Env = []string{"NODE={{.Node.Zone}}"}
	tk = e.assignTask(bad)
	got := e.waitTask(tk.ID, "ended", func(t *api.Task) bool { return t.Status.State.Terminal() })
	if got.Status.State != api.TaskStateRejected || !strings.Contains(got.Status.Err, `env "NODE={{.Node.Zone}}": bad Swarm template`) {
		t.Errorf("task with a bad template: status %+v, want rejected naming the template", got.Status)
	}
}

// logWatch is a slog handler that passes each message on, so a test can
// wait for something the agent does in the background.
type logWatch struct{ msgs chan string }

func (l *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (l *logWatch) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logWatch) WithGroup(string) slog.Handler            { return l }
func (l *logWatch) Handle(_ context.Context, r slog.Record) error {
	select {
	case l.msgs <- r.Message:
	default: // a test that stopped listening must not block the agent
	}
	return nil
}

// await waits until the agent has logged msg.
func (l *logWatch) await(t *testing.T, msg string) {
	t.Helper()
	ctx := testCtx(t)
	for {
		select {
		case m := <-l.msgs:
			if m == msg {
				return
			}
		case <-ctx.Done():
			t.Fatalf("the agent never logged %q", msg)
		}
	}
}
