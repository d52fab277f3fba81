package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	closed, canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.canceled = true; return nil }

var (
	_ raft.SnapshotSink = (*memSink)(nil)
	_ raft.FSM          = (*state.FSM)(nil)
)

// applyLog applies cmd through the FSM as the log entry at index.
func applyLog(t *testing.T, f *state.FSM, index uint64, cmd *state.Command) state.Result {
	t.Helper()
	data, err := state.EncodeCommand(cmd)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	out := f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data})
	res, ok := out.(state.Result)
	if !ok {
		t.Fatalf("Apply returned %T, want state.Result", out)
	}
	return res
}

func TestFSMApplyDecodesAndAppliesALogEntry(t *testing.T) {
	f := state.NewFSM(state.NewStore())
	res := applyLog(t, f, 7, &state.Command{Time: step(0), Atomic: true, Ops: []state.Op{
		createService(newService("s1", "web")), createTask(newTask("t1", "s1", 1)),
	}})
	if res.Err != nil || res.Index != 7 {
		t.Fatalf("result %+v", res)
	}
	tx := f.Store().Read()
	if tx.Index() != 7 {
		t.Fatalf("store index %d, want 7", tx.Index())
	}
	s := tx.Service("s1")
	if s == nil || s.Version != 7 || !s.CreatedAt.Equal(step(0)) {
		t.Fatalf("service %+v", s)
	}
	if tk := tx.Task("t1"); tk == nil || tk.Version != 7 {
		t.Fatalf("task %+v", tk)
	}
	// A refused command through the FSM returns its error in the result.
	res = applyLog(t, f, 8, &state.Command{Time: step(1), Atomic: true, Ops: []state.Op{createService(newService("s2", "WEB"))}})
	if !errors.Is(res.Err, state.ErrNameConflict) || res.Index != 8 {
		t.Fatalf("result %+v, want ErrNameConflict at 8", res)
	}
}

func TestFSMApplySkipsAnUndecodableEntry(t *testing.T) {
	f := state.NewFSM(state.NewStore())
	applyLog(t, f, 1, &state.Command{Time: step(0), Ops: []state.Op{createService(newService("s1", "web"))}})
	out := f.Apply(&raft.Log{Index: 2, Data: []byte("{not json")})
	res, ok := out.(state.Result)
	if !ok || res.Err == nil || res.Index != 2 {
		t.Fatalf("Apply(garbage) = %+v, want an error result at index 2", out)
	}
	tx := f.Store().Read()
	if tx.Index() != 2 || len(tx.Services()) != 1 {
		t.Fatalf("after garbage: index %d, %d services", tx.Index(), len(tx.Services()))
	}
}

// dump is every object of a view, for comparing two stores.
type dump struct {
	Index    uint64
	Services []*api.Service
	Tasks    []*api.Task
	Nodes    []*api.Node
}

func dumpOf(tx *state.ReadTx) dump {
	return dump{tx.Index(), tx.Services(), tx.Tasks(), tx.Nodes()}
}

func TestFSMSnapshotRestoreRoundTrip(t *testing.T) {
	src := state.NewFSM(state.NewStore())
	svc := newService("s1", "web")
	svc.Spec.Labels = map[string]string{"tier": "front"}
	svc.Spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: "host"}}}
	svc.Spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: api.RestartConditionOnFailure, Delay: api.DurationPtr(3e9)}
	n := newNode("n1", "alpha")
	n.Spec.Labels = map[string]string{"zone": "a"}
	n.Description.Resources = api.Resources{NanoCPUs: 4e9, MemoryBytes: 8 << 30}
	i := uint64(0)
	next := func() uint64 { i++; return i }
	cmds := []*state.Command{
		{Time: step(1), Atomic: true, Ops: []state.Op{createService(svc), upsertNode(n), createService(newService("s2", "api"))}},
		{Time: step(2), Ops: []state.Op{createTask(newTask("t1", "s1", 1)), createTask(newTask("t2", "s1", 2)), createTask(globalTask("g1", "s2", "n1"))}},
		{Time: step(3), Ops: []state.Op{assign("t1", "n1"), {Kind: state.OpPendingReason, ID: "t2", Message: "no suitable node"}}},
		{Time: step(4), Ops: []state.Op{reportAt("t1", api.TaskStateRunning, step(4), "started")}},
		{Time: step(5), Ops: []state.Op{{Kind: state.OpDeleteService, ID: "s2"}}},
	}
	for _, c := range cmds {
		if res := applyLog(t, src, next(), c); res.Err != nil || res.OpErrs != nil {
			t.Fatalf("apply: %v %v", res.Err, res.OpErrs)
		}
	}
	want := dumpOf(src.Store().Read())

	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	// Writes after Snapshot must not leak into what Persist writes later.
	applyLog(t, src, next(), &state.Command{Time: step(6), Ops: []state.Op{createService(newService("s3", "late")), {Kind: state.OpDeleteTask, ID: "t2"}}})

	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("persist: %v", err)
	}
	if !sink.closed || sink.canceled {
		t.Fatalf("sink closed=%v canceled=%v, want closed only", sink.closed, sink.canceled)
	}

	dst := state.NewFSM(state.NewStore())
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	got := dumpOf(dst.Store().Read())
	if got.Index != want.Index || got.Index != 5 {
		t.Fatalf("restored index %d, want %d", got.Index, want.Index)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("restored contents differ:\n got %+v\nwant %+v", got, want)
	}

	// The restored store's indexes work, and it goes on from the index.
	tx := dst.Store().Read()
	if s, err := tx.FindService("WEB"); err != nil || s.ID != "s1" {
		t.Fatalf("FindService(WEB) after restore = %v, %v", s, err)
	}
	sameIDs(t, "TasksByNode(n1) after restore", tx.TasksByNode("n1"), "t1", "g1")
	sameIDs(t, "TasksBySlot(s1/2) after restore", tx.TasksBySlot("s1", 2, ""), "t2")
	res := applyLog(t, dst, 6, &state.Command{Time: step(6), Atomic: true, Ops: []state.Op{createService(newService("s4", "web"))}})
	if !errors.Is(res.Err, state.ErrNameConflict) {
		t.Fatalf("creating a taken name after restore = %v, want ErrNameConflict", res.Err)
	}
}

func TestFSMRestoreReplacesContentsAndSendsReset(t *testing.T) {
	src := state.NewFSM(state.NewStore())
	applyLog(t, src, 10, &state.Command{Time: step(0), Ops: []state.Op{createService(newService("s1", "web"))}})
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}

	dst := state.NewFSM(state.NewStore())
	applyLog(t, dst, 1, &state.Command{Time: step(0), Ops: []state.Op{createService(newService("old", "stale")), createTask(newTask("x", "old", 1))}})
	_, sub := dst.Store().Subscribe()
	defer sub.Close()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, sub, 1)
	if len(evs) != 1 || evs[0].Type != state.EventReset || evs[0].Index != 10 {
		t.Fatalf("events after restore %+v, want one reset at index 10", evs)
	}
	tx := dst.Store().Read()
	if tx.Service("old") != nil || tx.Task("x") != nil || tx.ServiceByName("stale") != nil {
		t.Fatal("objects from before the restore survived it")
	}
	if tx.Service("s1") == nil || tx.Index() != 10 {
		t.Fatalf("restored store: index %d, s1 %v", tx.Index(), tx.Service("s1"))
	}
}

func TestFSMRestoreRejectsCorruptSnapshot(t *testing.T) {
	dst := state.NewFSM(state.NewStore())
	applyLog(t, dst, 1, &state.Command{Time: step(0), Ops: []state.Op{createService(newService("s1", "web"))}})
	if err := dst.Restore(io.NopCloser(bytes.NewReader([]byte("{corrupt")))); err == nil {
		t.Fatal("restore of a corrupt snapshot succeeded")
	}
	if tx := dst.Store().Read(); tx.Service("s1") == nil || tx.Index() != 1 {
		t.Fatal("a failed restore changed the store")
	}
}

func TestFSMPersistWhileWritesGoOn(t *testing.T) {
	// Raft persists a snapshot while the FSM keeps applying entries.
	src := state.NewFSM(state.NewStore())
	for i := 1; i <= 20; i++ {
		applyLog(t, src, uint64(i), &state.Command{Time: step(i), Ops: []state.Op{createTask(newTask(fmt.Sprintf("t%02d", i), "s1", uint64(i)))}})
	}
	want := dumpOf(src.Store().Read())
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 21; i <= 200; i++ {
			id := fmt.Sprintf("t%02d", i-20)
			data, _ := state.EncodeCommand(&state.Command{Time: step(i), Ops: []state.Op{
				{Kind: state.OpDeleteTask, ID: id},
				createTask(newTask(fmt.Sprintf("x%03d", i), "s1", uint64(i))),
			}})
			src.Apply(&raft.Log{Index: uint64(i), Data: data})
		}
	}()
	sink := &memSink{}
	err = snap.Persist(sink)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	dst := state.NewFSM(state.NewStore())
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := dumpOf(dst.Store().Read()); !reflect.DeepEqual(got, want) {
		t.Fatalf("persisted snapshot is not the state at Snapshot time: index %d, %d tasks; want index %d, %d tasks", got.Index, len(got.Tasks), want.Index, len(want.Tasks))
	}
}

func TestFSMRestoreRefusesNullAndIDLessObjects(t *testing.T) {
	for _, snap := range []string{
		`{"index":5,"services":[null]}`,
		`{"index":5,"tasks":[null]}`,
		`{"index":5,"nodes":[null]}`,
		`{"index":5,"configs":[null]}`,
		`{"index":5,"secrets":[null]}`,
		`{"index":5,"networks":[null]}`,
		`{"index":5,"services":[{"Spec":{"Name":"web"}}]}`,
	} {
		t.Run(snap, func(t *testing.T) {
			dst := state.NewFSM(state.NewStore())
			applyLog(t, dst, 1, &state.Command{Time: step(0), Ops: []state.Op{createService(newService("s1", "web"))}})
			err := func() (err error) {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("restore panicked: %v", p)
					}
				}()
				return dst.Restore(io.NopCloser(strings.NewReader(snap)))
			}()
			if err == nil || (!strings.Contains(err.Error(), "null") && !strings.Contains(err.Error(), "no ID")) {
				t.Fatalf("restore = %v, want an error naming the null or ID-less object", err)
			}
			if tx := dst.Store().Read(); tx.Service("s1") == nil || tx.Index() != 1 {
				t.Fatal("a failed restore changed the store")
			}
		})
	}
}

// A node an operator removed never registers again, also on a replica
// restored from a snapshot (a restarted or new manager); a node deleted
// only to free its place in the table (OpDeleteNode) may come back.
func TestFSMRemovedNodeNeverRegistersAgain(t *testing.T) {
	src := state.NewFSM(state.NewStore())
	reg := func(f *state.FSM, index uint64, id string) error {
		return applyLog(t, f, index, &state.Command{Time: step(int(index)), Atomic: true, Ops: []state.Op{
			{Kind: state.OpRegisterNode, Node: &api.Node{ID: id, Spec: api.NodeSpec{Role: api.RoleWorker}}}}}).Err
	}
	for i, id := range []string{"n1", "n2"} {
		if err := reg(src, uint64(i+1), id); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
	}
	applyLog(t, src, 3, &state.Command{Time: step(3), Atomic: true, Ops: []state.Op{{Kind: state.OpRemoveNode, ID: "n1"}, {Kind: state.OpDeleteNode, ID: "n2"}}})
	if tx := src.Store().Read(); tx.Node("n1") != nil || !tx.NodeRemoved("n1") || tx.NodeRemoved("n2") {
		t.Fatalf("after remove n1, delete n2: n1 %v removed %v, n2 removed %v", tx.Node("n1"), tx.NodeRemoved("n1"), tx.NodeRemoved("n2"))
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("persist: %v", err)
	}
	dst := state.NewFSM(state.NewStore())
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := reg(dst, 4, "n1"); !errors.Is(err, state.ErrRemoved) {
		t.Fatalf("register the removed n1 on a restored replica: %v, want ErrRemoved", err)
	}
	if dst.Store().Read().Node("n1") != nil {
		t.Fatal("the refused registration wrote n1")
	}
	if err := reg(dst, 5, "n2"); err != nil {
		t.Fatalf("register n2, deleted to free its place: %v", err)
	}
}
