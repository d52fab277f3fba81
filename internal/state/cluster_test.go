package state_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

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

// restored is the store of a new FSM restored from a snapshot of src.
func restored(t *testing.T, src *state.FSM) *state.ReadTx {
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
