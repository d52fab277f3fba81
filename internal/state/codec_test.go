package state_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/hashicorp/raft"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// compactFields are the Op fields the compact encoding carries; every
// other field must keep a command in JSON when set.
var compactFields = map[string]bool{
	"Kind": true, "ID": true, "ExpectVersion": true, "NodeID": true,
	"Desired": true, "Message": true, "Report": true,
}

// TestCompactCoversEveryOpField fails when Op gains a field that neither
// the compact encoding carries nor keeps the command in JSON: it would be
// dropped from the log.
func TestCompactCoversEveryOpField(t *testing.T) {
	typ := reflect.TypeFor[state.Op]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if compactFields[f.Name] {
			continue
		}
		op := state.Op{Kind: state.OpTaskStatus, ID: "x"}
		v := reflect.ValueOf(&op).Elem().Field(i)
		switch v.Kind() {
		case reflect.Pointer:
			v.Set(reflect.New(f.Type.Elem()))
		case reflect.Map:
			v.Set(reflect.MakeMap(f.Type))
		case reflect.Slice:
			v.Set(reflect.MakeSlice(f.Type, 1, 1))
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Int64:
			v.SetInt(1)
		default:
			t.Fatalf("Op.%s (%s): teach this test and the compact encoding about it", f.Name, f.Type)
		}
		data, err := state.EncodeCompact(&state.Command{Ops: []state.Op{op}})
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != '{' {
			t.Errorf("a command with Op.%s set was not written as JSON", f.Name)
		}
	}
}

func genString(t *rapid.T, label string) string {
	return rapid.SampledFrom([]string{"", "a", "task-1", "é\u00e8 <&> \"q\"", "\u2028", "exit status 1"}).Draw(t, label)
}

func genTime(t *rapid.T, label string) time.Time {
	if rapid.Bool().Draw(t, label+"-zero") {
		return time.Time{}
	}
	sec := rapid.Int64Range(-62135596800+86400, 253402300799-86400).Draw(t, label+"-sec")
	tm := time.Unix(sec, rapid.Int64Range(0, 999999999).Draw(t, label+"-ns"))
	switch rapid.IntRange(0, 2).Draw(t, label+"-zone") {
	case 0:
		return tm.UTC()
	case 1:
		// -1 minute is the one offset time.MarshalBinary refuses (it
		// stands for UTC); such a time goes as JSON (below).
		off := rapid.IntRange(-14*60, 14*60).Filter(func(m int) bool { return m != -1 }).Draw(t, label+"-off")
		return tm.In(time.FixedZone("", 60*off))
	}
	return tm.In(time.Local)
}

func genState(t *rapid.T, label string) api.TaskState {
	return rapid.SampledFrom([]api.TaskState{api.TaskStateNew, api.TaskStatePending, api.TaskStateAssigned,
		api.TaskStateRunning, api.TaskStateShutdown, api.TaskStateFailed, api.TaskStateOrphaned}).Draw(t, label)
}

func genCompactOp(t *rapid.T) state.Op {
	op := state.Op{
		Kind: rapid.SampledFrom([]state.OpKind{state.OpTaskStatus, state.OpAssignTask,
			state.OpSetDesiredState, state.OpPendingReason, state.OpDeleteTask, "made_up"}).Draw(t, "kind"),
		ID: genString(t, "id"), ExpectVersion: rapid.Uint64().Draw(t, "ev"), NodeID: genString(t, "node"),
		Desired: genState(t, "desired"),
		Message: genString(t, "msg"),
	}
	if !rapid.Bool().Draw(t, "report") {
		return op
	}
	r := &api.TaskReport{TaskID: genString(t, "task"), Status: api.TaskStatus{
		State:     genState(t, "state"),
		Timestamp: genTime(t, "ts"), AgentTimestamp: genTime(t, "ats"),
		Message: genString(t, "smsg"), Err: genString(t, "err"),
		RuntimeID: genString(t, "rid"), Health: genString(t, "health"),
	}}
	if rapid.Bool().Draw(t, "exit") {
		code := rapid.IntRange(-1<<31, 1<<32).Draw(t, "code")
		r.Status.ExitCode = &code
	}
	if n := rapid.IntRange(-1, 3).Draw(t, "endpoints"); n >= 0 {
		r.Endpoints = make([]api.TaskEndpoint, n)
		for i := range r.Endpoints {
			r.Endpoints[i] = api.TaskEndpoint{TargetPort: rapid.Uint32().Draw(t, "port"),
				Protocol: genString(t, "proto"), Addr: genString(t, "addr")}
		}
	}
	op.Report = r
	return op
}

// TestCompactDecodesAsJSONDoes: a command of the small ops decodes from
// its compact entry to exactly what its JSON entry decodes to.
func TestCompactDecodesAsJSONDoes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cmd := &state.Command{Time: genTime(t, "time"), Atomic: rapid.Bool().Draw(t, "atomic"),
			Ops: rapid.SliceOfN(rapid.Custom(genCompactOp), 0, 5).Draw(t, "ops")}
		data, err := state.EncodeCompact(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] == '{' {
			t.Fatalf("not compact: %s", data)
		}
		var got, want state.Command
		if err := state.DecodeCommand(data, &got); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if err := state.DecodeCommand(js, &want); err != nil {
			t.Fatal(err)
		}
		if len(want.Ops) == 0 {
			want.Ops = []state.Op{} // JSON "ops":[] decodes to empty, not nil
		}
		if !reflect.DeepEqual(got, want) {
			for i := range got.Ops {
				t.Logf("op %d report: compact %+v, JSON %+v", i, got.Ops[i].Report, want.Ops[i].Report)
			}
			t.Fatalf("compact decodes to\n%+v\nJSON to\n%+v", got, want)
		}
	})
}

// TestCompactKeepsJSONWhereItDiffers: what JSON would alter (bad UTF-8)
// or refuse goes as JSON, so both encodings always apply the same.
func TestCompactKeepsJSONWhereItDiffers(t *testing.T) {
	for name, cmd := range map[string]*state.Command{
		"bad utf-8":        {Ops: []state.Op{{Kind: state.OpPendingReason, ID: "t", Message: "\xff"}}},
		"offset -1 minute": {Time: time.Unix(0, 0).In(time.FixedZone("", -60))},
		"unknown state":    {Ops: []state.Op{{Kind: state.OpSetDesiredState, ID: "t", Desired: 1}}},
		"seconds offset": {Ops: []state.Op{{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: "t",
			Status: api.TaskStatus{AgentTimestamp: time.Unix(0, 0).In(time.FixedZone("LMT", 561))}}}}},
	} {
		data, err := state.EncodeCompact(cmd)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if data[0] != '{' {
			t.Errorf("%s: written compact", name)
		}
	}
	if _, err := state.EncodeCompact(&state.Command{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("a year JSON refuses was encoded")
	}
}

// TestCompactRejectsDamagedEntries: every truncation and a few bit flips
// of a compact entry fail to decode, or decode, without a panic; the FSM
// skips what does not decode (TestFSMApplySkipsAnUndecodableEntry).
func TestCompactRejectsDamagedEntries(t *testing.T) {
	code := 3
	cmd := &state.Command{Time: time.Unix(1e9, 5).UTC(), Ops: []state.Op{
		{Kind: state.OpAssignTask, ID: "task-1", NodeID: "node-1", Message: "assigned"},
		{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: "task-1", Status: api.TaskStatus{
			State: api.TaskStateFailed, ExitCode: &code}, Endpoints: []api.TaskEndpoint{{TargetPort: 80, Addr: "a:1"}}}},
	}}
	data, err := state.EncodeCompact(cmd)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n < len(data); n++ {
		var got state.Command
		if err := state.DecodeCommand(data[:n], &got); err == nil {
			t.Errorf("truncated to %d of %d bytes: decoded", n, len(data))
		}
	}
	var got state.Command
	if err := state.DecodeCommand(append(data, 0), &got); err == nil {
		t.Error("a trailing byte was accepted")
	}
	for i := 1; i < len(data); i++ {
		damaged := append([]byte(nil), data...)
		damaged[i] ^= 0xff
		_ = state.DecodeCommand(damaged, &state.Command{})
	}
	f := state.NewFSM(state.NewStore())
	if res := f.Apply(&raft.Log{Index: 1, Data: data[:len(data)-1]}).(state.Result); res.Err == nil {
		t.Error("the FSM applied a truncated compact entry")
	}
	if f.Store().Index() != 1 {
		t.Errorf("index %d after a skipped entry, want 1", f.Store().Index())
	}
}
