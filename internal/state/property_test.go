package state_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

var (
	propServiceIDs = []string{"s1", "s2", "s3"}
	propNames      = []string{"web", "WEB", "api", "db"}
	propTaskIDs    = []string{"t1", "t2", "t3", "t4", "t5"}
	propNodeIDs    = []string{"n1", "n2", "n3"}
	propStates     = []api.TaskState{
		api.TaskStateNew, api.TaskStatePending, api.TaskStateAssigned, api.TaskStateAccepted,
		api.TaskStatePreparing, api.TaskStateReady, api.TaskStateStarting, api.TaskStateRunning,
		api.TaskStateComplete, api.TaskStateShutdown, api.TaskStateFailed, api.TaskStateRejected,
		api.TaskStateRemove, api.TaskStateOrphaned,
	}
	propKinds = []state.OpKind{
		state.OpCreateService, state.OpUpdateService, state.OpDeleteService,
		state.OpCreateTask, state.OpDeleteTask, state.OpAssignTask, state.OpPendingReason,
		state.OpSetDesiredState, state.OpTaskStatus, state.OpUpsertNode, state.OpNodeStatus,
		state.OpDeleteNode,
	}
)

// genOp draws one op over small pools of IDs so ops collide often. Some ops
// carry missing payloads, as a broken proposer might send.
func genOp(t *rapid.T) state.Op {
	kind := rapid.SampledFrom(propKinds).Draw(t, "kind")
	sid := rapid.SampledFrom(propServiceIDs).Draw(t, "service")
	tid := rapid.SampledFrom(propTaskIDs).Draw(t, "task")
	nid := rapid.SampledFrom(propNodeIDs).Draw(t, "node")
	nilPayload := rapid.IntRange(0, 9).Draw(t, "nilPayload") == 0
	op := state.Op{Kind: kind}
	switch kind {
	case state.OpCreateService, state.OpUpdateService:
		if !nilPayload {
			op.Service = newService(sid, rapid.SampledFrom(propNames).Draw(t, "name"))
		}
		op.ExpectVersion = rapid.Uint64Range(0, 5).Draw(t, "expect")
	case state.OpDeleteService:
		op.ID = sid
	case state.OpCreateTask:
		if !nilPayload {
			tk := newTask(tid, sid, rapid.Uint64Range(0, 3).Draw(t, "slot"))
			tk.Status.State = rapid.SampledFrom(propStates[:3]).Draw(t, "createState")
			if rapid.Bool().Draw(t, "presetNode") {
				tk.NodeID = nid
			}
			op.Task = tk
		}
	case state.OpDeleteTask:
		op.ID = tid
	case state.OpAssignTask:
		op.ID, op.NodeID = tid, nid
	case state.OpPendingReason:
		op.ID = tid
		op.Message = rapid.SampledFrom([]string{"", "no suitable node", "other"}).Draw(t, "reason")
	case state.OpSetDesiredState:
		op.ID = tid
		op.Desired = rapid.SampledFrom(propStates).Draw(t, "desired")
	case state.OpTaskStatus:
		if !nilPayload {
			op.Report = &api.TaskReport{TaskID: tid, Status: api.TaskStatus{
				State:  rapid.SampledFrom(propStates).Draw(t, "reported"),
				Health: rapid.SampledFrom([]string{"", api.HealthHealthy}).Draw(t, "health"),
			}}
		}
	case state.OpUpsertNode:
		if !nilPayload {
			op.Node = newNode(nid, "h-"+nid)
		}
	case state.OpNodeStatus:
		op.ID = nid
		if !nilPayload {
			op.NodeStatus = &api.NodeStatus{State: rapid.SampledFrom([]string{api.NodeStateReady, api.NodeStateDown}).Draw(t, "nodeState")}
		}
	case state.OpDeleteNode:
		op.ID = nid
	}
	return op
}

// contentsJSON is every object of a view, without its index.
func contentsJSON(t *rapid.T, tx *state.ReadTx) string {
	d := dumpOf(tx)
	d.Index = 0
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// TestRandomCommandsNeverMoveATaskBackwards applies random commands and
// checks after each: nothing panics, a task that lives through a command
// never has a lower state or desired state after it, its history only moves
// forward, and a refused atomic command changes nothing.
func TestRandomCommandsNeverMoveATaskBackwards(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := state.NewStore()
		p := &state.LocalProposer{Store: s}
		_, sub := s.Subscribe()
		defer sub.Close()
		nCmds := rapid.IntRange(1, 40).Draw(t, "commands")
		for c := 0; c < nCmds; c++ {
			ops := rapid.SliceOfN(rapid.Custom(genOp), 1, 4).Draw(t, "ops")
			atomic := rapid.Bool().Draw(t, "atomic")
			before := s.Read()
			beforeJSON := contentsJSON(t, before)
			res, err := p.Propose(context.Background(), &state.Command{Time: step(c), Atomic: atomic, Ops: ops})
			if err != nil {
				t.Fatalf("propose: %v", err)
			}
			after := s.Read()
			evs, err := sub.Drain()
			if err != nil {
				t.Fatal(err)
			}
			if res.Index != before.Index()+1 || after.Index() != res.Index {
				t.Fatalf("index %d -> %d, result %d", before.Index(), after.Index(), res.Index)
			}
			if atomic && res.Err != nil {
				if contentsJSON(t, after) != beforeJSON {
					t.Fatalf("refused atomic command (%v) changed the store", res.Err)
				}
				if len(evs) != 0 {
					t.Fatalf("refused atomic command published %d events", len(evs))
				}
				continue
			}
			if !atomic && res.OpErrs != nil && len(res.OpErrs) != len(ops) {
				t.Fatalf("OpErrs has %d entries for %d ops", len(res.OpErrs), len(ops))
			}
			removed := map[string]bool{}
			for _, ev := range evs {
				if ev.Index != res.Index {
					t.Fatalf("event at index %d from the command at %d", ev.Index, res.Index)
				}
				if ev.Type == api.EventTask && ev.Action == api.ActionRemove {
					removed[ev.ID] = true
				}
			}
			for _, tk := range after.Tasks() {
				for i := 1; i < len(tk.History); i++ {
					if tk.History[i].State <= tk.History[i-1].State {
						t.Fatalf("task %s history goes %s then %s", tk.ID, tk.History[i-1].State, tk.History[i].State)
					}
				}
				old := before.Task(tk.ID)
				if old == nil || removed[tk.ID] {
					continue // new in this command, or deleted and made again
				}
				if tk.Status.State < old.Status.State {
					t.Fatalf("task %s state went from %s to %s", tk.ID, old.Status.State, tk.Status.State)
				}
				if old.Status.State.Terminal() && tk.Status.State != old.Status.State {
					t.Fatalf("ended task %s went from %s to %s", tk.ID, old.Status.State, tk.Status.State)
				}
				if tk.DesiredState < old.DesiredState {
					t.Fatalf("task %s desired state went from %s to %s", tk.ID, old.DesiredState, tk.DesiredState)
				}
				if old.NodeID != "" && old.Status.State >= api.TaskStateAssigned && tk.NodeID != old.NodeID {
					t.Fatalf("placed task %s moved from %s to %s", tk.ID, old.NodeID, tk.NodeID)
				}
			}
			// Service names stay unique, case-insensitively.
			names := map[string]string{}
			for _, sv := range after.Services() {
				key := lower(sv.Spec.Name)
				if other, ok := names[key]; ok {
					t.Fatalf("services %s and %s share the name %q", other, sv.ID, sv.Spec.Name)
				}
				names[key] = sv.ID
			}
		}
	})
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// TestFSMAppliesEncodedCommandsLikeTheirOriginals: every replica applies
// the log entry's encoding, not the proposer's Go value, so a random
// command sequence applied through FSM.Apply must leave the same contents
// and results as the same commands applied directly.
func TestFSMAppliesEncodedCommandsLikeTheirOriginals(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		direct := state.NewStore()
		p := &state.LocalProposer{Store: direct}
		fsm := state.NewFSM(state.NewStore())
		nCmds := rapid.IntRange(1, 30).Draw(t, "commands")
		for c := 0; c < nCmds; c++ {
			cmd := &state.Command{
				Time:   step(c),
				Atomic: rapid.Bool().Draw(t, "atomic"),
				Ops:    rapid.SliceOfN(rapid.Custom(genOp), 1, 4).Draw(t, "ops"),
			}
			data, err := state.EncodeCommand(cmd)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			want, err := p.Propose(context.Background(), cmd)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := fsm.Apply(&raft.Log{Index: uint64(c + 1), Data: data}).(state.Result)
			if !ok {
				t.Fatal("Apply did not return a Result")
			}
			if got.Index != want.Index || (got.Err == nil) != (want.Err == nil) || len(got.OpErrs) != len(want.OpErrs) {
				t.Fatalf("command %d: FSM result %+v, direct %+v", c, got, want)
			}
			for i := range got.OpErrs {
				if (got.OpErrs[i] == nil) != (want.OpErrs[i] == nil) {
					t.Fatalf("command %d op %d: FSM error %v, direct %v", c, i, got.OpErrs[i], want.OpErrs[i])
				}
			}
			a, b := contentsJSON(t, fsm.Store().Read()), contentsJSON(t, direct.Read())
			if a != b {
				t.Fatalf("command %d: contents differ\n fsm    %s\n direct %s", c, a, b)
			}
		}
	})
}

// entryProposer checks that each command's log entry is json.Marshal's
// bytes for it, then applies it.
type entryProposer struct {
	state.LocalProposer
	t       *rapid.T
	entries int
}

func (p *entryProposer) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	got, err := state.EncodeCommand(cmd)
	if err != nil {
		p.t.Fatal(err)
	}
	want, err := json.Marshal(cmd)
	if err != nil {
		p.t.Fatal(err)
	}
	if string(got) != string(want) {
		p.t.Fatalf("entry\n %s\njson.Marshal\n %s", got, want)
	}
	p.entries++
	return p.LocalProposer.Propose(ctx, cmd)
}

// TestProposeBatchesEncodesAsJSON: the entries ProposeBatches encodes as
// it bounds them are json.Marshal's bytes for their commands, at any time
// (a zero one is the proposer's to set), and split as before.
func TestProposeBatchesEncodesAsJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := &entryProposer{LocalProposer: state.LocalProposer{Store: state.NewStore()}, t: t}
		n := rapid.IntRange(1, 1200).Draw(t, "n")
		ops := rapid.SliceOfN(rapid.Custom(genOp), n, n).Draw(t, "ops")
		at := step(rapid.IntRange(0, 3).Draw(t, "at"))
		if rapid.Bool().Draw(t, "zeroTime") {
			at = time.Time{}
		}
		if _, err := state.ProposeBatches(context.Background(), p, at, ops); err != nil {
			t.Fatal(err)
		}
		if want := (len(ops) + state.MaxOpsPerCommand - 1) / state.MaxOpsPerCommand; p.entries != want {
			t.Fatalf("%d ops in %d entries, want %d", len(ops), p.entries, want)
		}
	})
}
