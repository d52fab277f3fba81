package cluster_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait, so a bug fails a test instead of hanging
// it; it is not a timing assertion.
const testTimeout = 15 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

const nodeID = "managernode0000000000000a"

// open starts Raft on dir feeding store; it is closed when the test ends
// unless the test closes it first (closing twice is avoided by the flag).
type member struct {
	*cluster.Raft
	closed bool
}

func open(t *testing.T, dir string, store *state.Store) *member {
	t.Helper()
	r, err := cluster.Open(cluster.Config{Dir: dir, NodeID: nodeID, Fast: true}, store)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	m := &member{Raft: r}
	t.Cleanup(func() {
		if !m.closed {
			m.Close()
		}
	})
	return m
}

func (m *member) close(t *testing.T) {
	t.Helper()
	m.closed = true
	if err := m.Raft.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// waitLeader waits for the member to report leadership on LeaderCh.
func waitLeader(t *testing.T, m *member) {
	t.Helper()
	ctx := testCtx(t)
	for !m.IsLeader() {
		select {
		case <-m.LeaderCh():
		case <-ctx.Done():
			t.Fatal("no leadership within the test timeout")
		}
	}
}

func service(name string) *api.Service {
	return &api.Service{
		ID: api.NewID(),
		Spec: api.ServiceSpec{
			Name:         name,
			Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "60"}}},
		},
		SpecVersion: 1,
	}
}

func createService(t *testing.T, m *member, name string) (*api.Service, state.Result) {
	t.Helper()
	svc := service(name)
	res, err := m.Propose(testCtx(t), &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpCreateService, Service: svc}}})
	if err != nil {
		t.Fatalf("Propose: %v", err)
	}
	if res.Err != nil {
		t.Fatalf("create service %s refused: %v", name, res.Err)
	}
	return svc, res
}

// contents is everything a store holds.
type contents struct {
	Index    uint64
	Services []*api.Service
	Tasks    []*api.Task
	Nodes    []*api.Node
}

func snapshotOf(s *state.Store) contents {
	tx := s.Read()
	return contents{tx.Index(), tx.Services(), tx.Tasks(), tx.Nodes()}
}

func TestOpenBootstrapsLeader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raft")
	m := open(t, dir, state.NewStore())
	waitLeader(t, m)
	if id := m.LeaderID(); id != nodeID {
		t.Errorf("LeaderID() = %q, want %q", id, nodeID)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("raft folder: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil {
		t.Errorf("raft.db: %v", err)
	}
}

func TestProposeAppliesCommand(t *testing.T) {
	store := state.NewStore()
	m := open(t, t.TempDir(), store)
	waitLeader(t, m)

	before := time.Now().UTC()
	svc, res := createService(t, m, "web")
	if res.Index == 0 || store.Index() != res.Index {
		t.Fatalf("result index %d, store index %d", res.Index, store.Index())
	}
	got := store.Read().Service(svc.ID)
	if got == nil || got.Spec.Name != "web" || got.Version != res.Index {
		t.Fatalf("stored service %+v", got)
	}
	// The proposer's clock stamps the write.
	if got.CreatedAt.Before(before.Add(-time.Minute)) || got.CreatedAt.IsZero() {
		t.Errorf("CreatedAt %v", got.CreatedAt)
	}

	// A second command gets a later index; a refused atomic command comes
	// back in the Result, not as an error.
	_, res2 := createService(t, m, "db")
	if res2.Index <= res.Index {
		t.Errorf("second index %d after %d", res2.Index, res.Index)
	}
	dup := service("web")
	res3, err := m.Propose(testCtx(t), &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpCreateService, Service: dup}}})
	if err != nil || !errors.Is(res3.Err, state.ErrNameConflict) || res3.Index <= res2.Index {
		t.Errorf("duplicate create: %+v, %v", res3, err)
	}
	// The command's own time is kept.
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	svc4 := service("cache")
	if _, err := m.Propose(testCtx(t), &state.Command{Time: at, Ops: []state.Op{{Kind: state.OpCreateService, Service: svc4}}}); err != nil {
		t.Fatal(err)
	}
	if got := store.Read().Service(svc4.ID); got == nil || !got.CreatedAt.Equal(at) {
		t.Errorf("command time not applied: %+v", got)
	}
}

func TestBarrier(t *testing.T) {
	store := state.NewStore()
	m := open(t, t.TempDir(), store)
	waitLeader(t, m)
	_, res := createService(t, m, "web")
	if err := m.Barrier(testTimeout); err != nil {
		t.Fatalf("Barrier: %v", err)
	}
	if store.Index() < res.Index {
		t.Errorf("store index %d < %d after Barrier", store.Index(), res.Index)
	}
	m.close(t)
	if err := m.Barrier(time.Second); err == nil {
		t.Error("Barrier on a closed raft succeeded")
	}
}

func TestAcknowledgedWriteSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	store := state.NewStore()
	m := open(t, dir, store)
	waitLeader(t, m)
	svc, _ := createService(t, m, "web")
	node := &api.Node{ID: "node1", Spec: api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive}, Status: api.NodeStatus{State: api.NodeStateReady}}
	if _, err := m.Propose(testCtx(t), &state.Command{Ops: []state.Op{{Kind: state.OpUpsertNode, Node: node}}}); err != nil {
		t.Fatal(err)
	}
	want := snapshotOf(store)
	m.close(t)

	store2 := state.NewStore()
	m2 := open(t, dir, store2)
	waitLeader(t, m2)
	if err := m2.Barrier(testTimeout); err != nil {
		t.Fatalf("Barrier: %v", err)
	}
	got := snapshotOf(store2)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	if s := store2.Read().Service(svc.ID); s == nil || s.Spec.Name != "web" {
		t.Errorf("service lost: %+v", s)
	}
	// The reopened member goes on writing after the restored index.
	_, res := createService(t, m2, "db")
	if res.Index <= want.Index {
		t.Errorf("new write at %d, not after %d", res.Index, want.Index)
	}
}

func TestSnapshotAndLogTailRestore(t *testing.T) {
	dir := t.TempDir()
	store := state.NewStore()
	m := open(t, dir, store)
	waitLeader(t, m)
	a, _ := createService(t, m, "a")
	createService(t, m, "b")
	if err := m.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	snapIndex := store.Index()
	c, _ := createService(t, m, "c")
	// Change and delete objects that are in the snapshot.
	upd := *store.Read().Service(a.ID)
	upd.Spec.Labels = map[string]string{"tier": "front"}
	if _, err := m.Propose(testCtx(t), &state.Command{Ops: []state.Op{
		{Kind: state.OpUpdateService, Service: &upd},
		{Kind: state.OpDeleteService, ID: store.Read().ServiceByName("b").ID},
	}}); err != nil {
		t.Fatal(err)
	}
	want := snapshotOf(store)
	m.close(t)

	store2 := state.NewStore()
	_, sub := store2.Subscribe()
	defer sub.Close()
	m2 := open(t, dir, store2)
	waitLeader(t, m2)
	if err := m2.Barrier(testTimeout); err != nil {
		t.Fatal(err)
	}
	got := snapshotOf(store2)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	if s := store2.Read().Service(a.ID); s == nil || s.Spec.Labels["tier"] != "front" {
		t.Errorf("update after the snapshot lost: %+v", s)
	}
	if store2.Read().ServiceByName("b") != nil {
		t.Error("delete after the snapshot lost")
	}

	// The store was reset to the snapshot, then only the tail was applied.
	ctx := testCtx(t)
	var evs []api.Event
	for len(evs) < 4 {
		more, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("events so far %+v: %v", evs, err)
		}
		evs = append(evs, more...)
	}
	if evs[0].Type != state.EventReset || evs[0].Index != snapIndex {
		t.Fatalf("first event %+v, want a reset at the snapshot index %d", evs[0], snapIndex)
	}
	tail := evs[1:]
	if len(tail) != 3 || tail[0].ID != c.ID || tail[0].Action != api.ActionCreate ||
		tail[1].ID != a.ID || tail[1].Action != api.ActionUpdate || tail[2].Action != api.ActionRemove {
		t.Errorf("tail events %+v", tail)
	}
	for _, ev := range tail {
		if ev.Index <= snapIndex {
			t.Errorf("event %+v replays a write the snapshot holds", ev)
		}
	}
}

// bootstrappedFolder prepares a raft folder bootstrapped with servers, as
// another Raft (or an older shoal) wrote it.
func bootstrappedFolder(t *testing.T, servers ...raft.Server) string {
	t.Helper()
	dir := t.TempDir()
	logs, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = nodeID
	_, trans := raft.NewInmemTransport("")
	defer trans.Close()
	if err := raft.BootstrapCluster(conf, logs, logs, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// twoVoterFolder prepares a raft folder whose configuration has this node
// and an unreachable second voter, so the node can never win an election.
func twoVoterFolder(t *testing.T) string {
	t.Helper()
	return bootstrappedFolder(t, raft.Server{ID: nodeID, Address: cluster.LocalAddress}, raft.Server{ID: "othermanager", Address: "127.0.0.1:1"})
}

func TestProposeOnFollowerReturnsErrNotLeader(t *testing.T) {
	store := state.NewStore()
	m := open(t, twoVoterFolder(t), store)
	if m.IsLeader() {
		t.Fatal("a member without quorum leads")
	}
	_, err := m.Propose(testCtx(t), &state.Command{Ops: []state.Op{{Kind: state.OpCreateService, Service: service("web")}}})
	if !errors.Is(err, cluster.ErrNotLeader) {
		t.Fatalf("Propose on a follower: %v, want ErrNotLeader", err)
	}
	if store.Index() != 0 || len(store.Read().Services()) != 0 {
		t.Error("a refused proposal changed the store")
	}
	if err := m.Barrier(time.Second); err == nil {
		t.Error("Barrier on a follower succeeded")
	}
}

func TestProposeOnClosedRaftFails(t *testing.T) {
	store := state.NewStore()
	m := open(t, t.TempDir(), store)
	waitLeader(t, m)
	m.close(t)
	_, err := m.Propose(testCtx(t), &state.Command{Ops: []state.Op{{Kind: state.OpCreateService, Service: service("web")}}})
	if err == nil {
		t.Fatal("Propose on a closed raft succeeded")
	}
	if len(store.Read().Services()) != 0 {
		t.Error("a failed proposal changed the store")
	}
}

func TestProposeWithEndedContextFails(t *testing.T) {
	store := state.NewStore()
	m := open(t, t.TempDir(), store)
	waitLeader(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpCreateService, Service: service("web")}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Propose with a cancelled context: %v", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := m.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpCreateService, Service: service("db")}}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Propose past its deadline: %v", err)
	}
	if err := m.Barrier(testTimeout); err != nil {
		t.Fatal(err)
	}
	if n := len(store.Read().Services()); n != 0 {
		t.Errorf("%d services written by abandoned proposals", n)
	}
}

func TestFolderWithTCPAddressStillLeads(t *testing.T) {
	// As shoal wrote it when Raft listened on TCP: this node at a TCP
	// address.
	dir := bootstrappedFolder(t, raft.Server{ID: nodeID, Address: "127.0.0.1:43127"})
	store := state.NewStore()
	m := open(t, dir, store)
	waitLeader(t, m)
	svc, _ := createService(t, m, "web")
	m.close(t)

	// And again, from what this start wrote.
	store2 := state.NewStore()
	m2 := open(t, dir, store2)
	waitLeader(t, m2)
	if err := m2.Barrier(testTimeout); err != nil {
		t.Fatal(err)
	}
	if s := store2.Read().Service(svc.ID); s == nil {
		t.Error("the service written after the upgrade was lost")
	}
}
