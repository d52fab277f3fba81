package state_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// The recorded log: JSON entries as managers wrote them before the
// compact encoding (commit 1932c1e), and the snapshot that code made
// after applying them. Every later version must apply them to that same
// snapshot, since a manager replays whatever its log holds.
const (
	recordedLog      = "testdata/json-log.txt"
	recordedSnapshot = "testdata/json-log.snapshot.json"
)

// recordLog rewrites the two files from the code under test. Only for a
// deliberate change of the snapshot's format: the entries must stay the
// JSON ones.
var recordLog = flag.Bool("record-json-log", false, "rewrite "+recordedLog+" and its snapshot")

// logCommands are writes of every kind the compact encoding carries, with
// the fields that are easy to lose (nil and empty endpoints, exit codes,
// agent times in another zone), between writes it does not carry.
func logCommands() []*state.Command {
	at := time.Date(2026, 12, 6, 19, 0, 0, 123456789, time.UTC)
	east := time.FixedZone("", 5*3600+1800)
	exit1, exit0 := 1, 0
	var cmds []*state.Command
	add := func(atomic bool, ops ...state.Op) {
		at = at.Add(time.Second)
		cmds = append(cmds, &state.Command{Time: at, Atomic: atomic, Ops: ops})
	}
	add(false, state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "node-a", Spec: api.NodeSpec{Availability: "active"}, Status: api.NodeStatus{State: api.NodeStateReady}}},
		state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "node-b", Spec: api.NodeSpec{Availability: "active"}, Status: api.NodeStatus{State: api.NodeStateReady}}})
	svc := simService(0)
	svc.Spec.Mode.Replicated.Replicas = 6
	add(true, state.Op{Kind: state.OpCreateService, Service: svc})
	var creates []state.Op
	for slot := range 6 {
		t := api.NewTask(svc, uint64(slot+1), "", at)
		t.ID = fmt.Sprintf("task-%d", slot)
		creates = append(creates, state.Op{Kind: state.OpCreateTask, Task: t})
	}
	add(false, creates...)
	add(false, state.Op{Kind: state.OpAssignTask, ID: "task-0", NodeID: "node-a", Message: "assigned"},
		state.Op{Kind: state.OpAssignTask, ID: "task-1", NodeID: "node-b"},
		state.Op{Kind: state.OpAssignTask, ID: "task-2", NodeID: "node-a", Message: "assigned"},
		state.Op{Kind: state.OpAssignTask, ID: "task-3", NodeID: "node-b", Message: "assigned"},
		state.Op{Kind: state.OpPendingReason, ID: "task-4", Message: "no suitable node (1 node not available)"},
		state.Op{Kind: state.OpAssignTask, ID: "missing", NodeID: "node-a"})
	report := func(id string, st api.TaskState, mod func(*api.TaskReport)) state.Op {
		r := &api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st, Timestamp: at, Message: st.String()}}
		if mod != nil {
			mod(r)
		}
		return state.Op{Kind: state.OpTaskStatus, Report: r}
	}
	add(false, report("task-0", api.TaskStateStarting, nil),
		report("task-1", api.TaskStateStarting, func(r *api.TaskReport) { r.Status.AgentTimestamp = at.In(east).Add(-time.Millisecond) }),
		report("task-2", api.TaskStateRunning, func(r *api.TaskReport) {
			r.Status.RuntimeID = "4242"
			r.Status.Health = api.HealthStarting
			r.Endpoints = []api.TaskEndpoint{{TargetPort: 80, Protocol: "tcp", Addr: "10.0.0.2:33012"}, {TargetPort: 53, Protocol: "udp", Addr: "10.0.0.2:33013"}}
		}),
		report("task-3", api.TaskStateRunning, func(r *api.TaskReport) { r.Endpoints = []api.TaskEndpoint{} }))
	add(false, report("task-0", api.TaskStateRunning, func(r *api.TaskReport) { r.Status.RuntimeID = "c0ffee" }),
		report("task-2", api.TaskStateRunning, func(r *api.TaskReport) { r.Status.Health = api.HealthHealthy }),
		report("task-3", api.TaskStateFailed, func(r *api.TaskReport) {
			r.Status.ExitCode, r.Status.Err = &exit1, "exit status 1"
		}),
		report("task-1", api.TaskStateComplete, func(r *api.TaskReport) { r.Status.ExitCode = &exit0 }))
	add(true, state.Op{Kind: state.OpSetDesiredState, ID: "task-2", Desired: api.TaskStateShutdown},
		state.Op{Kind: state.OpSetDesiredState, ID: "task-0", Desired: api.TaskStateShutdown})
	add(false, state.Op{Kind: state.OpDeleteTask, ID: "task-5"}, state.Op{Kind: state.OpDeleteTask, ID: "task-5"})
	add(false, state.Op{Kind: state.OpNodeStatus, ID: "node-b", NodeStatus: &api.NodeStatus{State: api.NodeStateDown, Message: "heartbeat failure"}})
	add(false, state.Op{Kind: state.OpDeleteNode, ID: "node-b"})
	return cmds
}

// applyEntries applies entries to a new FSM and returns its snapshot.
func applyEntries(t *testing.T, entries [][]byte) []byte {
	t.Helper()
	f := state.NewFSM(state.NewStore())
	for i, data := range entries {
		if res := f.Apply(&raft.Log{Index: uint64(i + 1), Data: data}).(state.Result); res.Err != nil {
			t.Logf("entry %d: %v", i+1, res.Err)
		}
	}
	return persist(t, f)
}

// persist returns f's snapshot as Raft would store it.
func persist(t *testing.T, f *state.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

func readRecordedLog(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open(recordedLog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		entries = append(entries, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestRecordedJSONLogAppliesAsBefore(t *testing.T) {
	if *recordLog {
		var log bytes.Buffer
		var entries [][]byte
		for _, cmd := range logCommands() {
			data, err := json.Marshal(cmd)
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, data)
			log.Write(data)
			log.WriteByte('\n')
		}
		if err := os.WriteFile(recordedLog, log.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(recordedSnapshot, applyEntries(t, entries), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(recordedSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	entries := readRecordedLog(t)
	if got := applyEntries(t, entries); !bytes.Equal(got, want) {
		t.Fatalf("recorded JSON log applies to\n%s\nwant\n%s", got, want)
	}

	// The same commands written by this version (compact where it can)
	// apply to the same snapshot.
	compact := 0
	for i, data := range entries {
		var cmd state.Command
		if err := state.DecodeCommand(data, &cmd); err != nil {
			t.Fatal(err)
		}
		again, err := state.EncodeCompact(&cmd)
		if err != nil {
			t.Fatal(err)
		}
		if again[0] != '{' {
			compact++
		}
		entries[i] = again
	}
	if compact < 5 {
		t.Fatalf("%d entries re-encoded compact, want at least 5", compact)
	}
	if got := applyEntries(t, entries); !bytes.Equal(got, want) {
		t.Fatalf("re-encoded log applies to\n%s\nwant\n%s", got, want)
	}

	// The snapshot restores to exactly itself.
	f := state.NewFSM(state.NewStore())
	if err := f.Restore(io.NopCloser(bytes.NewReader(want))); err != nil {
		t.Fatal(err)
	}
	if got := persist(t, f); !bytes.Equal(got, want) {
		t.Fatalf("restored snapshot persists as\n%s\nwant\n%s", got, want)
	}
}
