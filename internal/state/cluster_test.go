package state_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// The sealed join tokens and the certificate life are in the cluster
// config row: a snapshot carries them, setting the tokens keeps the
// pool, and a later start naming another certificate life is refused.
func TestClusterTokensAndExpiryInSnapshots(t *testing.T) {
	src := state.NewFSM(state.NewStore())
	if res := applyLog(t, src, 1, &state.Command{Time: step(1), Atomic: true, Ops: []state.Op{{Kind: state.OpSetJoinTokens, Tokens: []byte("x")}}}); res.Err == nil {
		t.Fatal("tokens set before the cluster config: want a refusal")
	}
	init := state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.9.0.0/16"}, SubnetSize: 24, Explicit: true, CertExpiry: 2 * time.Hour}}
	for i, c := range []*state.Command{
		{Time: step(2), Atomic: true, Ops: []state.Op{init}},
		{Time: step(3), Atomic: true, Ops: []state.Op{{Kind: state.OpSetJoinTokens, Tokens: []byte("sealed-tokens")}}},
	} {
		if res := applyLog(t, src, uint64(i+2), c); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	other := state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.9.0.0/16"}, SubnetSize: 24, CertExpiry: 3 * time.Hour}}
	if res := applyLog(t, src, 4, &state.Command{Time: step(4), Atomic: true, Ops: []state.Op{other}}); !errors.Is(res.Err, state.ErrPoolFixed) {
		t.Fatalf("another certificate life: %v, want refused", res.Err)
	}
	tx := restored(t, src)
	pools, size := tx.AddrPool()
	if string(tx.JoinTokens()) != "sealed-tokens" || tx.CertExpiry() != 2*time.Hour || len(pools) != 1 || pools[0] != "10.9.0.0/16" || size != 24 {
		t.Fatalf("restored: tokens %q, expiry %s, pool %v/%d", tx.JoinTokens(), tx.CertExpiry(), pools, size)
	}
}

// The autolock setting is in the cluster config row: set on, it keeps
// the rest of the row, a snapshot carries it, and off clears the key ID.
func TestAutolockSettingInSnapshots(t *testing.T) {
	src := state.NewFSM(state.NewStore())
	on := state.Op{Kind: state.OpSetAutolock, Lock: &state.AutolockSetting{On: true, KeyID: "0123abcd"}}
	if res := applyLog(t, src, 1, &state.Command{Time: step(1), Atomic: true, Ops: []state.Op{on}}); res.Err == nil {
		t.Fatal("autolock set before the cluster config: want a refusal")
	}
	init := state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.9.0.0/16"}, SubnetSize: 24}}
	for i, op := range []state.Op{init, {Kind: state.OpSetJoinTokens, Tokens: []byte("t")}, on} {
		if res := applyLog(t, src, uint64(i+2), &state.Command{Time: step(i + 2), Atomic: true, Ops: []state.Op{op}}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	for _, bad := range []*state.AutolockSetting{nil, {On: true}, {KeyID: "x"}} {
		if res := applyLog(t, src, 5, &state.Command{Time: step(5), Atomic: true, Ops: []state.Op{{Kind: state.OpSetAutolock, Lock: bad}}}); res.Err == nil {
			t.Errorf("setting %+v: want a refusal", bad)
		}
	}
	tx := restored(t, src)
	if got := tx.Autolock(); !got.On || got.KeyID != "0123abcd" || string(tx.JoinTokens()) != "t" {
		t.Fatalf("restored: autolock %+v, tokens %q", got, tx.JoinTokens())
	}
	off := state.Op{Kind: state.OpSetAutolock, Lock: &state.AutolockSetting{}}
	if res := applyLog(t, src, 6, &state.Command{Time: step(6), Atomic: true, Ops: []state.Op{off}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := src.Store().Read().Autolock(); got.On || got.KeyID != "" {
		t.Fatalf("after off: %+v", got)
	}
}

// fataler is what restored needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

// restored is the store of a new FSM restored from a snapshot of src.
func restored(t fataler, src *state.FSM) *state.ReadTx {
	t.Helper()
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	dst := state.NewFSM(state.NewStore())
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	return dst.Store().Read()
}

// A join-token write with CheckTokens is a compare-and-set: it applies
// only over the tokens it was made from (none, then the first), so a
// rotation made from a stale read does not undo another.
func TestJoinTokensCompareAndSet(t *testing.T) {
	fsm := state.NewFSM(state.NewStore())
	init := state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.9.0.0/16"}, SubnetSize: 24}}
	set := func(index uint64, tokens, expect string) error {
		op := state.Op{Kind: state.OpSetJoinTokens, Tokens: []byte(tokens), CheckTokens: true}
		if expect != "" {
			op.ExpectTokens = []byte(expect)
		}
		return applyLog(t, fsm, index, &state.Command{Time: step(int(index)), Atomic: true, Ops: []state.Op{op}}).Err
	}
	if res := applyLog(t, fsm, 1, &state.Command{Time: step(1), Atomic: true, Ops: []state.Op{init}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if err := set(2, "first", ""); err != nil {
		t.Fatalf("first rotation over none: %v", err)
	}
	if err := set(3, "stale", ""); !errors.Is(err, state.ErrVersionConflict) {
		t.Fatalf("a rotation made before the first: %v, want a version conflict", err)
	}
	if err := set(4, "second", "first"); err != nil {
		t.Fatalf("a rotation made from the first: %v", err)
	}
	if got := string(fsm.Store().Read().JoinTokens()); got != "second" {
		t.Fatalf("tokens %q, want second", got)
	}
}

// The orphan period is fixed at the cluster's creation, as the
// certificate life; the default is Swarm's 24 hours.
func TestOrphanPeriodSetAtCreation(t *testing.T) {
	e := newEnv(t)
	if got := e.store.Read().OrphanAfter(); got != state.DefaultOrphanAfter {
		t.Fatalf("orphan period before the cluster config: %s, want %s", got, state.DefaultOrphanAfter)
	}
	pool := func(d time.Duration) state.Op {
		return state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.0.0.0/8"}, SubnetSize: 24, OrphanAfter: d}}
	}
	e.must(step(1), pool(time.Minute))
	e.must(step(2), pool(0)) // a later start without the flag keeps it
	if res := e.propose(&state.Command{Time: step(3), Atomic: true, Ops: []state.Op{pool(time.Hour)}}); !errors.Is(res.Err, state.ErrPoolFixed) {
		t.Fatalf("another orphan period: %v, want refused", res.Err)
	}
	if got := e.store.Read().OrphanAfter(); got != time.Minute {
		t.Fatalf("orphan period %s, want 1m", got)
	}
}

// A node's down time is the store's: set by the write that marks it down,
// kept by later ones, cleared when it is ready again.
func TestNodeDownSince(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "n1", Spec: api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive},
		Status: api.NodeStatus{State: api.NodeStateReady}}})
	status := func(st string) state.Op {
		return state.Op{Kind: state.OpNodeStatus, ID: "n1", NodeStatus: &api.NodeStatus{State: st}}
	}
	since := func() *time.Time { return e.store.Read().Node("n1").Status.DownSince }
	e.must(step(1), status(api.NodeStateDown))
	e.must(step(5), status(api.NodeStateDown))
	if got := since(); got == nil || !got.Equal(step(1)) {
		t.Fatalf("down since %v, want %v (the first write that marked it down)", got, step(1))
	}
	e.must(step(6), status(api.NodeStateReady))
	if got := since(); got != nil {
		t.Fatalf("ready node down since %v, want none", got)
	}
}

// `swarm update --cert-expiry` changes the cluster's certificate life
// and keeps the rest of the row; a start naming the new life is then
// taken, the old one refused.
func TestSetCertExpiry(t *testing.T) {
	f := state.NewFSM(state.NewStore())
	set := func(i int, d time.Duration) state.Result {
		return applyLog(t, f, uint64(i), &state.Command{Time: step(i), Atomic: true, Ops: []state.Op{{Kind: state.OpSetCertExpiry, CertExpiry: d}}})
	}
	if res := set(1, time.Hour); res.Err == nil {
		t.Fatal("expiry set before the cluster config: want a refusal")
	}
	init := func(d time.Duration) state.Op {
		return state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.9.0.0/16"}, SubnetSize: 24, CertExpiry: d}}
	}
	for i, c := range []*state.Command{
		{Time: step(2), Atomic: true, Ops: []state.Op{init(2 * time.Hour)}},
		{Time: step(3), Atomic: true, Ops: []state.Op{{Kind: state.OpSetJoinTokens, Tokens: []byte("sealed-tokens")}}},
	} {
		if res := applyLog(t, f, uint64(i+2), c); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	for _, bad := range []time.Duration{0, -time.Hour} {
		if res := set(4, bad); res.Err == nil {
			t.Fatalf("expiry %s taken", bad)
		}
	}
	if res := set(5, 5*time.Hour); res.Err != nil {
		t.Fatal(res.Err)
	}
	tx := f.Store().Read()
	pools, _ := tx.AddrPool()
	if tx.CertExpiry() != 5*time.Hour || string(tx.JoinTokens()) != "sealed-tokens" || len(pools) != 1 || pools[0] != "10.9.0.0/16" {
		t.Fatalf("after the update: expiry %s, tokens %q, pool %v", tx.CertExpiry(), tx.JoinTokens(), pools)
	}
	if res := applyLog(t, f, 6, &state.Command{Time: step(6), Atomic: true, Ops: []state.Op{init(5 * time.Hour)}}); res.Err != nil {
		t.Fatalf("a start naming the new life: %v", res.Err)
	}
	if res := applyLog(t, f, 7, &state.Command{Time: step(7), Atomic: true, Ops: []state.Op{init(2 * time.Hour)}}); !errors.Is(res.Err, state.ErrPoolFixed) {
		t.Fatalf("a start naming the old life: %v, want refused", res.Err)
	}
}

// A rotation's step applies only on the step its proposer saw: a step
// proposed from an older view (a leader change) never undoes a later
// one, and the last step's tokens go in with it.
func TestSetRootCASteps(t *testing.T) {
	f := state.NewFSM(state.NewStore())
	if res := applyLog(t, f, 1, &state.Command{Time: step(1), Atomic: true, Ops: []state.Op{{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.9.0.0/16"}, SubnetSize: 24}}}}); res.Err != nil {
		t.Fatal(res.Err)
	}
	set := func(i int, in, expect *state.RootCA, tokens []byte) error {
		return applyLog(t, f, uint64(i), &state.Command{Time: step(i), Atomic: true, Ops: []state.Op{{Kind: state.OpSetRootCA, CA: in, ExpectCA: expect, Tokens: tokens}}}).Err
	}
	rotating := &state.RootCA{Cert: []byte("new"), Key: []byte("k2"), PrevCert: []byte("old"), PrevKey: []byte("k1")}
	if err := set(2, rotating, nil, nil); err != nil {
		t.Fatal(err)
	}
	moved := *rotating
	moved.Moved = []string{"n1"}
	ended := &state.RootCA{Cert: []byte("new"), Key: []byte("k2")}
	if err := set(3, ended, rotating, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	if err := set(4, &moved, rotating, nil); !errors.Is(err, state.ErrVersionConflict) {
		t.Fatalf("a step from before the end: %v, want a conflict", err)
	}
	tx := f.Store().Read()
	if ca := tx.RootCA(); ca.Rotating() || string(ca.Cert) != "new" || string(tx.JoinTokens()) != "sealed" {
		t.Fatalf("after the end: %+v, tokens %q", ca, tx.JoinTokens())
	}
	if err := set(5, &state.RootCA{Cert: []byte("x")}, ended, nil); err == nil {
		t.Fatal("a CA without its key taken")
	}
}
