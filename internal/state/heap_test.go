package state_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// fsmApply encodes cmd as a log entry and applies it through the FSM, the
// way every manager applies Raft's entries: from JSON.
func fsmApply(tb testing.TB, f *state.FSM, index uint64, cmd *state.Command) state.Result {
	tb.Helper()
	data, err := state.EncodeCommand(cmd)
	if err != nil {
		tb.Fatal(err)
	}
	res := f.Apply(&raft.Log{Index: index, Data: data}).(state.Result)
	if res.Err != nil {
		tb.Fatal(res.Err)
	}
	return res
}

// simService is a service as issue 15's scale benchmark makes them: a
// process with a constraint and a spread preference.
func simService(i int) *api.Service {
	return &api.Service{ID: fmt.Sprintf("svc-%d", i), SpecVersion: 1, Spec: api.ServiceSpec{
		Name: fmt.Sprintf("svc-%d", i),
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "inf"}},
			Placement: &api.Placement{Constraints: []string{"engine.labels.tier==app"},
				Preferences: []api.PlacementPreference{{Spread: "engine.labels.zone"}}}},
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1000}},
	}}
}

// runTasks makes services × perService tasks through the FSM and takes each
// to running as the manager does: created, assigned, then the agent's
// starting and running reports. It returns the tasks' IDs.
func runTasks(tb testing.TB, f *state.FSM, services, perService int) []string {
	tb.Helper()
	idx := uint64(1)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	next := func(ops []state.Op) {
		for len(ops) > 0 {
			n := min(len(ops), state.MaxOpsPerCommand)
			fsmApply(tb, f, idx, &state.Command{Time: at, Ops: ops[:n]})
			idx++
			ops = ops[n:]
		}
	}
	var ids []string
	var creates, assigns []state.Op
	for s := range services {
		svc := simService(s)
		next([]state.Op{{Kind: state.OpCreateService, Service: svc}})
		for slot := range perService {
			t := api.NewTask(svc, uint64(slot+1), "", at)
			ids = append(ids, t.ID)
			creates = append(creates, state.Op{Kind: state.OpCreateTask, Task: t})
			assigns = append(assigns, state.Op{Kind: state.OpAssignTask, ID: t.ID, NodeID: fmt.Sprintf("sim-node-%04d", len(ids)%1000), Message: "assigned"})
		}
	}
	next(creates)
	next(assigns)
	for _, st := range []api.TaskState{api.TaskStateStarting, api.TaskStateRunning} {
		var reps []state.Op
		for _, id := range ids {
			rep := &api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st, Timestamp: at, Message: st.String()}}
			if st == api.TaskStateRunning {
				rep.Status.RuntimeID = "sim-" + id
			}
			reps = append(reps, state.Op{Kind: state.OpTaskStatus, Report: rep})
		}
		next(reps)
	}
	return ids
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkHeapPerTask is the store's memory per running task at rest
// (issue 15's target: at most 2 KB), the tasks made and run through the
// FSM as a manager applies them: 10 services × 1,000 tasks.
func BenchmarkHeapPerTask(b *testing.B) {
	for range b.N {
		before := heapInUse()
		f := state.NewFSM(state.NewStore())
		ids := runTasks(b, f, 10, 1000)
		after := heapInUse()
		runtime.KeepAlive(f)
		b.ReportMetric(float64(after-before)/float64(len(ids)), "heap-B/task")
	}
}
