package state_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait of the tests, so a bug fails a test instead
// of hanging it; it is not a timing assertion.
const testTimeout = 10 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// t0 is the proposer clock of the tests; step(i) is i seconds after it.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func step(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

type env struct {
	t     *testing.T
	store *state.Store
	p     *state.LocalProposer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := state.NewStore()
	return &env{t: t, store: s, p: &state.LocalProposer{Store: s}}
}

// propose applies cmd and fails the test only if the proposer itself fails.
func (e *env) propose(cmd *state.Command) state.Result {
	e.t.Helper()
	res, err := e.p.Propose(context.Background(), cmd)
	if err != nil {
		e.t.Fatalf("propose: %v", err)
	}
	return res
}

// must applies ops as one atomic command at time at and fails the test if
// it is refused.
func (e *env) must(at time.Time, ops ...state.Op) state.Result {
	e.t.Helper()
	res := e.propose(&state.Command{Time: at, Atomic: true, Ops: ops})
	if res.Err != nil {
		e.t.Fatalf("command refused: %v", res.Err)
	}
	return res
}

// refused applies ops as one atomic command and checks it fails with want.
func (e *env) refused(want error, at time.Time, ops ...state.Op) state.Result {
	e.t.Helper()
	res := e.propose(&state.Command{Time: at, Atomic: true, Ops: ops})
	if !errors.Is(res.Err, want) {
		e.t.Fatalf("command error = %v, want %v", res.Err, want)
	}
	return res
}

func (e *env) task(id string) *api.Task {
	e.t.Helper()
	tk := e.store.Read().Task(id)
	if tk == nil {
		e.t.Fatalf("task %s not found", id)
	}
	return tk
}

func (e *env) service(id string) *api.Service {
	e.t.Helper()
	s := e.store.Read().Service(id)
	if s == nil {
		e.t.Fatalf("service %s not found", id)
	}
	return s
}

func newService(id, name string) *api.Service {
	return &api.Service{
		ID: id,
		Spec: api.ServiceSpec{
			Name:         name,
			Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"/bin/sleep", "60"}}},
		},
		SpecVersion: 1,
	}
}

// newTask is a pending task of a replicated service slot, as the
// orchestrator makes it.
func newTask(id, serviceID string, slot uint64) *api.Task {
	return &api.Task{
		ID:           id,
		ServiceID:    serviceID,
		ServiceName:  "svc-" + serviceID,
		Slot:         slot,
		SpecVersion:  1,
		Spec:         api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"/bin/sleep", "60"}}},
		DesiredState: api.TaskStateRunning,
		Status:       api.TaskStatus{State: api.TaskStatePending, Timestamp: t0, Message: "pending task scheduling"},
	}
}

func newNode(id, hostname string) *api.Node {
	return &api.Node{
		ID:          id,
		Spec:        api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive},
		Description: api.NodeDescription{Hostname: hostname, Platform: api.Platform{OS: "linux", Architecture: "amd64"}, Runtimes: []string{api.RuntimeProcess}},
		Status:      api.NodeStatus{State: api.NodeStateReady, Addr: "10.0.0.1:4000"},
	}
}

func createService(s *api.Service) state.Op { return state.Op{Kind: state.OpCreateService, Service: s} }
func createTask(t *api.Task) state.Op       { return state.Op{Kind: state.OpCreateTask, Task: t} }
func upsertNode(n *api.Node) state.Op       { return state.Op{Kind: state.OpUpsertNode, Node: n} }

func report(id string, st api.TaskState, msg string) state.Op {
	return state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st, Message: msg}}}
}

func reportAt(id string, st api.TaskState, at time.Time, msg string) state.Op {
	return state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st, Timestamp: at, Message: msg}}}
}

func assign(id, node string) state.Op {
	return state.Op{Kind: state.OpAssignTask, ID: id, NodeID: node, Message: "assigned"}
}
