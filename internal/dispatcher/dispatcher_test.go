package dispatcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait, so a bug fails a test instead of hanging
// it; it is not a timing assertion.
const testTimeout = 10 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type env struct {
	t     *testing.T
	store *state.Store
	p     *state.LocalProposer
	d     *dispatcher.Dispatcher
}

// newEnv returns a dispatcher over a LocalProposer store, not started.
func newEnv(t *testing.T, period time.Duration) *env {
	t.Helper()
	s := state.NewStore()
	p := &state.LocalProposer{Store: s}
	return &env{t: t, store: s, p: p, d: &dispatcher.Dispatcher{Store: s, Proposer: p, Logger: quiet, HeartbeatPeriod: period}}
}

// start starts the dispatcher; it is stopped when the test ends.
func (e *env) start() (stop func()) {
	stop = e.d.Start(context.Background())
	e.t.Cleanup(stop)
	return stop
}

func (e *env) must(ops ...state.Op) state.Result {
	e.t.Helper()
	res, err := e.p.Propose(context.Background(), &state.Command{Atomic: true, Ops: ops})
	if err != nil || res.Err != nil {
		e.t.Fatalf("propose: %v %v", err, res.Err)
	}
	return res
}

func (e *env) register(nodeID, addr string) *dispatcher.Session {
	e.t.Helper()
	s, err := e.d.Register(testCtx(e.t), api.NodeRegistration{
		NodeID:      nodeID,
		Addr:        addr,
		Description: api.NodeDescription{Hostname: "host-" + nodeID, Runtimes: []string{api.RuntimeProcess}},
	})
	if err != nil {
		e.t.Fatalf("Register(%s): %v", nodeID, err)
	}
	e.t.Cleanup(s.Close)
	return s
}

func (e *env) task(id string) *api.Task {
	e.t.Helper()
	tk := e.store.Read().Task(id)
	if tk == nil {
		e.t.Fatalf("task %s not found", id)
	}
	return tk
}

// newTask is a task of a global service placed on node at creation, pending.
func newTask(id, node string) *api.Task {
	return &api.Task{
		ID:           id,
		ServiceID:    "svc",
		ServiceName:  "web",
		NodeID:       node,
		SpecVersion:  1,
		Spec:         api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "60"}}},
		DesiredState: api.TaskStateRunning,
		Status:       api.TaskStatus{State: api.TaskStatePending},
	}
}

func createTask(tk *api.Task) state.Op { return state.Op{Kind: state.OpCreateTask, Task: tk} }
func assign(id, node string) state.Op {
	return state.Op{Kind: state.OpAssignTask, ID: id, NodeID: node, Message: "assigned"}
}
func report(id string, st api.TaskState) state.Op {
	return state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st}}}
}

func ids(ts []*api.Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func sameIDs(got []*api.Task, want ...string) bool {
	g := ids(got)
	if len(g) != len(want) {
		return false
	}
	set := map[string]bool{}
	for _, id := range g {
		set[id] = true
	}
	for _, id := range want {
		if !set[id] {
			return false
		}
	}
	return true
}

func assignments(t *testing.T, s *dispatcher.Session) api.Assignments {
	t.Helper()
	a, err := s.Assignments(testCtx(t))
	if err != nil {
		t.Fatalf("Assignments: %v", err)
	}
	return a
}

// waitNode waits on sub for a change to node id that satisfies ok.
func waitNode(t *testing.T, sub *state.Subscription, id string, ok func(*api.Node) bool) *api.Node {
	t.Helper()
	ctx := testCtx(t)
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for node %s: %v", id, err)
		}
		for _, ev := range evs {
			if ev.Type == api.EventNode && ev.ID == id && ev.Node != nil && ok(ev.Node) {
				return ev.Node
			}
		}
	}
}

func isDown(n *api.Node) bool { return n.Status.State == api.NodeStateDown }

func TestRegisterBeforeStartFails(t *testing.T) {
	e := newEnv(t, 0)
	_, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: "n1"})
	if !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Fatalf("Register before Start: %v, want ErrNotRunning", err)
	}
	if len(e.store.Read().Nodes()) != 0 {
		t.Error("Register before Start wrote a node")
	}
}

func TestRegisterNeedsNodeID(t *testing.T) {
	e := newEnv(t, 0)
	e.start()
	if _, err := e.d.Register(testCtx(t), api.NodeRegistration{Addr: "10.0.0.1"}); err == nil {
		t.Fatal("Register without a node ID succeeded")
	}
}

func TestRegisterUpsertsReadyNode(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	reg := api.NodeRegistration{NodeID: "n1", Addr: "10.0.0.7", Role: api.RoleManager,
		Description: api.NodeDescription{Hostname: "box", Platform: api.Platform{OS: "linux", Architecture: "x86_64"}, Runtimes: []string{"process"}}}
	s, err := e.d.Register(testCtx(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.NodeID() != "n1" {
		t.Errorf("session NodeID %q", s.NodeID())
	}
	n := e.store.Read().Node("n1")
	if n == nil {
		t.Fatal("node not stored")
	}
	if n.Status.State != api.NodeStateReady || n.Status.Addr != "10.0.0.7" || n.Status.LastHeartbeat.IsZero() {
		t.Errorf("status %+v", n.Status)
	}
	if n.Spec.Role != api.RoleManager || n.Spec.Availability != api.AvailabilityActive {
		t.Errorf("new node spec %+v: want the registered role, active", n.Spec)
	}
	if n.Description.Hostname != "box" || n.Description.Platform.OS != "linux" || !n.HasRuntime("process") {
		t.Errorf("description %+v", n.Description)
	}

	// Without a role a new node is a worker.
	e.register("n2", "10.0.0.8")
	if n2 := e.store.Read().Node("n2"); n2.Spec.Role != api.RoleWorker {
		t.Errorf("default role %q", n2.Spec.Role)
	}
}

func TestRegisterKeepsOperatorSpec(t *testing.T) {
	e := newEnv(t, time.Hour)
	spec := api.NodeSpec{Role: api.RoleManager, Availability: api.AvailabilityDrain, Labels: map[string]string{"zone": "east"}}
	e.must(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{
		ID: "n1", Spec: spec,
		Description: api.NodeDescription{Hostname: "old"},
		Status:      api.NodeStatus{State: api.NodeStateDown, Addr: "10.0.0.1", Message: "heartbeat failure"},
	}})
	e.start()
	e.register("n1", "10.0.0.2")
	n := e.store.Read().Node("n1")
	if n.Spec.Role != spec.Role || n.Spec.Availability != spec.Availability || n.Spec.Labels["zone"] != "east" {
		t.Errorf("spec %+v, want the operator's %+v", n.Spec, spec)
	}
	if n.Status.State != api.NodeStateReady || n.Status.Addr != "10.0.0.2" || n.Status.Message != "" {
		t.Errorf("status %+v", n.Status)
	}
	if n.Description.Hostname != "host-n1" {
		t.Errorf("description not refreshed: %+v", n.Description)
	}
}

func TestFirstAssignmentsFull(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.must(
		createTask(newTask("pending", "n1")),
		createTask(newTask("assigned", "n1")), assign("assigned", "n1"),
		createTask(newTask("running", "n1")), assign("running", "n1"), report("running", api.TaskStateRunning),
		createTask(newTask("done", "n1")), assign("done", "n1"), report("done", api.TaskStateComplete),
		createTask(newTask("other", "n2")), assign("other", "n2"),
		createTask(newTask("unplaced", "")),
	)
	e.start()
	s := e.register("n1", "10.0.0.1")
	a := assignments(t, s)
	if !a.Full || len(a.Removed) != 0 {
		t.Errorf("first assignment Full=%v Removed=%v", a.Full, a.Removed)
	}
	if !sameIDs(a.Tasks, "assigned", "running", "done") {
		t.Errorf("first assignment tasks %v, want assigned, running, done", ids(a.Tasks))
	}
}

func TestFirstAssignmentsFullEmpty(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	a := assignments(t, e.register("n1", "10.0.0.1"))
	if !a.Full || len(a.Tasks) != 0 {
		t.Errorf("first assignment of an empty node: %+v", a)
	}
}

func TestAssignmentsIncremental(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	if a := assignments(t, s); !a.Full {
		t.Fatal("first assignment not full")
	}

	// Another node's task, then a pending task of this node: nothing to
	// send yet. Then this node's assignment.
	e.must(createTask(newTask("b1", "n2")), assign("b1", "n2"))
	e.must(createTask(newTask("a1", "n1")))
	e.must(assign("a1", "n1"))
	a := assignments(t, s)
	if a.Full || len(a.Removed) != 0 || !sameIDs(a.Tasks, "a1") || a.Tasks[0].Status.State != api.TaskStateAssigned {
		t.Fatalf("new assignment: %+v (tasks %v)", a, ids(a.Tasks))
	}

	// A desired-state change, after another node's changes.
	e.must(report("b1", api.TaskStateRunning))
	e.must(state.Op{Kind: state.OpSetDesiredState, ID: "a1", Desired: api.TaskStateShutdown})
	a = assignments(t, s)
	if len(a.Tasks) != 1 || a.Tasks[0].ID != "a1" || a.Tasks[0].DesiredState != api.TaskStateShutdown {
		t.Fatalf("desired-state change: %+v", a)
	}

	// Several changes to one task come as its latest version.
	e.must(createTask(newTask("a2", "n1")), assign("a2", "n1"))
	e.must(report("a2", api.TaskStateAccepted))
	e.must(report("a2", api.TaskStateRunning))
	a = assignments(t, s)
	if len(a.Tasks) != 1 || a.Tasks[0].ID != "a2" || a.Tasks[0].Status.State != api.TaskStateRunning {
		t.Fatalf("coalesced changes: %+v", a)
	}

	// A delete is a removal.
	e.must(state.Op{Kind: state.OpDeleteTask, ID: "a1"})
	a = assignments(t, s)
	if len(a.Tasks) != 0 || len(a.Removed) != 1 || a.Removed[0] != "a1" {
		t.Fatalf("removal: %+v", a)
	}

	// Other nodes' deletes and non-task changes are skipped.
	e.must(state.Op{Kind: state.OpDeleteTask, ID: "b1"})
	e.must(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "n3"}})
	e.must(state.Op{Kind: state.OpDeleteTask, ID: "a2"})
	a = assignments(t, s)
	if len(a.Tasks) != 0 || len(a.Removed) != 1 || a.Removed[0] != "a2" {
		t.Fatalf("after other changes: %+v", a)
	}
}

func TestAssignmentsWaitsAndHonoursContext(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	assignments(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Assignments(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Assignments with a cancelled context: %v", err)
	}
	// A change that arrives while Assignments waits wakes it.
	type woken struct {
		a   api.Assignments
		err error
	}
	got := make(chan woken, 1)
	go func() {
		a, err := s.Assignments(testCtx(t))
		got <- woken{a, err}
	}()
	e.must(createTask(newTask("a1", "n1")), assign("a1", "n1"))
	select {
	case w := <-got:
		if w.err != nil || !sameIDs(w.a.Tasks, "a1") {
			t.Errorf("woken with %+v, %v", w.a, w.err)
		}
	case <-testCtx(t).Done():
		t.Fatal("Assignments did not wake")
	}
}

func TestAssignmentsFullAfterReset(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.start()
	s := e.register("n1", "10.0.0.1")
	assignments(t, s)

	// A snapshot restore replaces the whole store.
	kept := newTask("kept", "n1")
	kept.Status = api.TaskStatus{State: api.TaskStateRunning}
	pending := newTask("pending", "n1")
	other := newTask("other", "n2")
	other.Status = api.TaskStatus{State: api.TaskStateRunning}
	snap, _ := json.Marshal(map[string]any{"index": 100, "tasks": []*api.Task{kept, pending, other}})
	if err := state.NewFSM(e.store).Restore(io.NopCloser(strings.NewReader(string(snap)))); err != nil {
		t.Fatal(err)
	}
	a := assignments(t, s)
	if !a.Full || !sameIDs(a.Tasks, "kept") {
		t.Errorf("after a reset: Full=%v tasks %v", a.Full, ids(a.Tasks))
	}
}

func TestReportAppliesInOrderAndDropsStale(t *testing.T) {
	e := newEnv(t, time.Hour)
	tk := newTask("t1", "n1")
	tk.Endpoint = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}}
	e.must(createTask(tk), assign("t1", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")

	if err := s.Report(testCtx(t), nil); err != nil {
		t.Fatalf("empty report: %v", err)
	}
	states := []api.TaskState{api.TaskStateAccepted, api.TaskStatePreparing, api.TaskStateStarting, api.TaskStateRunning}
	var reps []api.TaskReport
	for _, st := range states {
		reps = append(reps, api.TaskReport{TaskID: "t1", Status: api.TaskStatus{State: st, Message: st.String()}})
	}
	reps[3].Status.RuntimeID = "4242"
	reps[3].Endpoints = []api.TaskEndpoint{{TargetPort: 80, Addr: "10.0.0.1:30000"}}
	if err := s.Report(testCtx(t), reps); err != nil {
		t.Fatal(err)
	}
	tk = e.task("t1")
	if tk.Status.State != api.TaskStateRunning || tk.Status.RuntimeID != "4242" || len(tk.Endpoints) != 1 {
		t.Fatalf("task after reports: %+v", tk.Status)
	}
	var hist []api.TaskState
	for _, h := range tk.History {
		hist = append(hist, h.State)
	}
	want := []api.TaskState{api.TaskStateAssigned, api.TaskStateAccepted, api.TaskStatePreparing, api.TaskStateStarting, api.TaskStateRunning}
	if len(hist) != len(want) {
		t.Fatalf("history %v, want %v", hist, want)
	}
	for i := range want {
		if hist[i] != want[i] {
			t.Fatalf("history %v, want %v", hist, want)
		}
	}
	version := tk.Version

	// Stale and unknown reports are dropped without an error, and do not
	// stop the good ones in the same batch.
	err := s.Report(testCtx(t), []api.TaskReport{
		{TaskID: "t1", Status: api.TaskStatus{State: api.TaskStateStarting}},
		{TaskID: "gone", Status: api.TaskStatus{State: api.TaskStateRunning}},
		{TaskID: "t1", Status: api.TaskStatus{State: api.TaskStateFailed, Err: "boom"}},
		{TaskID: "t1", Status: api.TaskStatus{State: api.TaskStateComplete}},
	})
	if err != nil {
		t.Fatalf("stale reports: %v", err)
	}
	tk = e.task("t1")
	if tk.Status.State != api.TaskStateFailed || tk.Status.Err != "boom" || tk.Version <= version {
		t.Errorf("task after stale reports: %+v", tk.Status)
	}
	if e.store.Read().Task("gone") != nil {
		t.Error("a report created a task")
	}
}

func TestReportFailsWhenProposerFails(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.must(createTask(newTask("t1", "n1")), assign("t1", "n1"))
	e.start()
	s := e.register("n1", "10.0.0.1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Report(ctx, []api.TaskReport{{TaskID: "t1", Status: api.TaskStatus{State: api.TaskStateAccepted}}}); err == nil {
		t.Error("Report through a failing proposer returned no error")
	}
}

func TestHeartbeatExpiryMarksNodeDown(t *testing.T) {
	e := newEnv(t, 20*time.Millisecond)
	_, sub := e.store.Subscribe()
	defer sub.Close()
	e.start()
	s := e.register("n1", "10.0.0.1")
	n := waitNode(t, sub, "n1", isDown)
	if n.Status.Message != "heartbeat failure" || n.Status.Addr != "10.0.0.1" {
		t.Errorf("down status %+v", n.Status)
	}
	// The session ends, so the agent registers again.
	assignments(t, s)
	if _, err := s.Assignments(testCtx(t)); !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Errorf("Assignments after expiry: %v", err)
	}
	if _, err := s.Heartbeat(testCtx(t)); !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Errorf("Heartbeat after expiry: %v", err)
	}
	e.register("n1", "10.0.0.1")
	n = waitNode(t, sub, "n1", func(n *api.Node) bool { return n.Status.State == api.NodeStateReady })
	if n.Status.Message != "" {
		t.Errorf("after registering again: %+v", n.Status)
	}
}

func TestStartArmsReadyNodes(t *testing.T) {
	e := newEnv(t, 20*time.Millisecond)
	e.must(
		state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "ready", Status: api.NodeStatus{State: api.NodeStateReady}}},
		state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "down", Status: api.NodeStatus{State: api.NodeStateDown, Message: "old"}}},
	)
	_, sub := e.store.Subscribe()
	defer sub.Close()
	e.start()
	// A node the store says is ready but that never connects goes down.
	n := waitNode(t, sub, "ready", isDown)
	if n.Status.Message != "heartbeat failure" {
		t.Errorf("status %+v", n.Status)
	}
	if n := e.store.Read().Node("down"); n.Status.Message != "old" {
		t.Errorf("a down node was written again: %+v", n.Status)
	}
}

func TestHeartbeatsKeepNodeReady(t *testing.T) {
	// A long period keeps the beats far from the timeout (three periods),
	// however slow the machine.
	e := newEnv(t, 500*time.Millisecond)
	_, sub := e.store.Subscribe()
	defer sub.Close()
	e.start()
	s := e.register("n1", "10.0.0.1")
	ctx := testCtx(t)
	for i := 0; i < 15; i++ {
		period, err := s.Heartbeat(ctx)
		if err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		if period != 500*time.Millisecond {
			t.Fatalf("Heartbeat period %v", period)
		}
		// Beat at a fifth of the period: far inside the timeout of three.
		timer := time.NewTimer(period / 5)
		select {
		case <-timer.C:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	if _, err := s.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := sub.Drain()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == api.EventNode && ev.Node != nil && isDown(ev.Node) {
			t.Fatalf("node went down while beating: %+v", ev.Node.Status)
		}
	}
	if n := e.store.Read().Node("n1"); n.Status.State != api.NodeStateReady {
		t.Errorf("node %+v", n.Status)
	}
}

func TestDefaultHeartbeatPeriod(t *testing.T) {
	e := newEnv(t, 0)
	e.start()
	s := e.register("n1", "10.0.0.1")
	if p, err := s.Heartbeat(testCtx(t)); err != nil || p != dispatcher.DefaultHeartbeatPeriod {
		t.Errorf("Heartbeat = %v, %v", p, err)
	}
}

func TestStopEndsSessions(t *testing.T) {
	e := newEnv(t, time.Hour)
	stop := e.d.Start(context.Background())
	s := e.register("n1", "10.0.0.1")
	assignments(t, s)
	waiting := make(chan error, 1)
	go func() {
		_, err := s.Assignments(testCtx(t))
		waiting <- err
	}()
	stop()
	select {
	case err := <-waiting:
		if !errors.Is(err, dispatcher.ErrNotRunning) {
			t.Errorf("waiting Assignments after stop: %v", err)
		}
	case <-testCtx(t).Done():
		t.Fatal("stop did not end a waiting Assignments")
	}
	if _, err := s.Assignments(testCtx(t)); !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Errorf("Assignments after stop: %v", err)
	}
	if _, err := s.Heartbeat(testCtx(t)); !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Errorf("Heartbeat after stop: %v", err)
	}
	if _, err := e.d.Register(testCtx(t), api.NodeRegistration{NodeID: "n2"}); !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Errorf("Register after stop: %v", err)
	}

	// The dispatcher starts again, e.g. when the manager leads again.
	stop2 := e.d.Start(context.Background())
	defer stop2()
	s2 := e.register("n1", "10.0.0.1")
	if a := assignments(t, s2); !a.Full {
		t.Errorf("new session after restart: %+v", a)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	e := newEnv(t, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.d.Run(ctx) }()
	// Run has started once Register succeeds.
	wait := testCtx(t)
	var s *dispatcher.Session
	for s == nil {
		var err error
		s, err = e.d.Register(wait, api.NodeRegistration{NodeID: "n1"})
		if err != nil && !errors.Is(err, dispatcher.ErrNotRunning) {
			t.Fatal(err)
		}
		if wait.Err() != nil {
			t.Fatal("Run never started")
		}
		runtime.Gosched()
	}
	defer s.Close()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
	case <-testCtx(t).Done():
		t.Fatal("Run did not return")
	}
	if _, err := s.Heartbeat(testCtx(t)); !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Errorf("Heartbeat after Run ended: %v", err)
	}
}
