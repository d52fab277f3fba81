package state_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// placementEntries returns the log entries that take services × perService
// tasks to running, as the manager writes them: the services, the tasks'
// creation, their assignment and the agents' starting and running reports,
// at most MaxOpsPerCommand ops an entry.
func placementEntries(tb testing.TB, services, perService int) [][]byte {
	tb.Helper()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var entries [][]byte
	add := func(ops []state.Op) {
		for len(ops) > 0 {
			n := min(len(ops), state.MaxOpsPerCommand)
			data, err := state.EncodeCompact(&state.Command{Time: at, Ops: ops[:n]})
			if err != nil {
				tb.Fatal(err)
			}
			entries = append(entries, data)
			ops = ops[n:]
		}
	}
	var creates, assigns, starting, running []state.Op
	for s := range services {
		svc := simService(s)
		add([]state.Op{{Kind: state.OpCreateService, Service: svc}})
		for slot := range perService {
			t := api.NewTask(svc, uint64(slot+1), "", at)
			creates = append(creates, state.Op{Kind: state.OpCreateTask, Task: t})
			assigns = append(assigns, state.Op{Kind: state.OpAssignTask, ID: t.ID,
				NodeID: fmt.Sprintf("sim-node-%04d", len(assigns)%1000), Message: "assigned"})
			starting = append(starting, state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: t.ID,
				Status: api.TaskStatus{State: api.TaskStateStarting, Timestamp: at, Message: "starting"}}})
			running = append(running, state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: t.ID,
				Status: api.TaskStatus{State: api.TaskStateRunning, Timestamp: at, Message: "running", RuntimeID: "sim-" + t.ID}}})
		}
	}
	for _, ops := range [][]state.Op{creates, assigns, starting, running} {
		add(ops)
	}
	return entries
}

// BenchmarkFSMPlacement is the FSM's own ceiling on placements: the time
// one manager's FSM takes to apply (decode, check, index, publish) the
// entries that create, place and run 10 services × 1,000 tasks, the
// entries encoded beforehand. tasks/s is what issue 15's placements/s
// cannot exceed while every write goes through it.
func BenchmarkFSMPlacement(b *testing.B) {
	const services, perService = 10, 1000
	entries := placementEntries(b, services, perService)
	b.ReportAllocs()
	b.ResetTimer()
	var total, cpu time.Duration
	for range b.N {
		f := state.NewFSM(state.NewStore())
		start, startCPU := time.Now(), processCPU()
		for i, data := range entries {
			res := f.Apply(&raft.Log{Index: uint64(i + 1), Data: data}).(state.Result)
			if res.Err != nil {
				b.Fatal(res.Err)
			}
			for _, err := range res.OpErrs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		total += time.Since(start)
		cpu += processCPU() - startCPU
	}
	b.ReportMetric(float64(services*perService*b.N)/total.Seconds(), "tasks/s")
	// CPU per task, garbage collection included: what the FSM costs
	// whatever else the machine runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(services*perService*b.N), "cpu-µs/task")
}

// BenchmarkEncodePlacement is the proposers' side of the same entries
// (building the ops included).
func BenchmarkEncodePlacement(b *testing.B) {
	b.ReportAllocs()
	startCPU := processCPU()
	for range b.N {
		placementEntries(b, 10, 1000)
	}
	b.ReportMetric(float64((processCPU()-startCPU).Microseconds())/float64(10000*b.N), "cpu-µs/task")
}

// BenchmarkTasksByService lists one service's 1,000 tasks out of 10,000,
// as the orchestrator and the updater do on every pass of a service.
func BenchmarkTasksByService(b *testing.B) {
	f := state.NewFSM(state.NewStore())
	runTasks(b, f, 10, 1000)
	tx := f.Store().Read()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if n := len(tx.TasksByService("svc-3")); n != 1000 {
			b.Fatalf("%d tasks, want 1000", n)
		}
	}
}

// encodingProposer encodes each command as the Raft proposer does, and
// applies nothing.
type encodingProposer struct{ bytes int }

func (p *encodingProposer) Propose(_ context.Context, cmd *state.Command) (state.Result, error) {
	data, err := state.EncodeCommand(cmd)
	p.bytes += len(data)
	return state.Result{}, err
}

// BenchmarkEncodeCreations is the proposers' side of the entries that
// create 10 services × 1,000 tasks, as the orchestrator writes them:
// ProposeBatches, which bounds each entry, and the encoding of each
// (EncodeCommand: JSON), the tasks made beforehand.
func BenchmarkEncodeCreations(b *testing.B) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var perService [][]state.Op
	for s := range 10 {
		svc := simService(s)
		var ops []state.Op
		for slot := range 1000 {
			ops = append(ops, state.Op{Kind: state.OpCreateTask, Task: api.NewTask(svc, uint64(slot+1), "", at)})
		}
		perService = append(perService, ops)
	}
	p := &encodingProposer{}
	b.ReportAllocs()
	b.ResetTimer()
	startCPU := processCPU()
	for range b.N {
		for _, ops := range perService {
			if _, err := state.ProposeBatches(context.Background(), p, at, ops); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64((processCPU()-startCPU).Microseconds())/float64(10000*b.N), "cpu-µs/task")
	b.ReportMetric(float64(p.bytes)/float64(10000*b.N), "B/task-entry")
}
