package manager_test

import (
	"testing"

	"github.com/shoalproject/shoal/internal/manager"
)

// The join tokens Raft keeps are sealed (the store never holds them in
// clear), open to what was set, and outlive a restart; a cluster that
// never rotated has none there.
func TestJoinTokensSealedInRaft(t *testing.T) {
	dir := t.TempDir()
	m := start(t, dir)
	ctx := testCtx(t)
	if _, ok, err := m.JoinTokens(); ok || err != nil {
		t.Fatalf("before any rotation: ok=%v err=%v, want none", ok, err)
	}
	want := manager.JoinTokens{Worker: "SHOALTKN-1-worker-secret", Manager: "SHOALTKN-1-manager-secret"}
	if err := m.SetJoinTokens(ctx, want); err == nil {
		t.Fatal("set before the cluster config exists: want an error")
	}
	if err := m.InitAddrPool(ctx, []string{"10.0.0.0/8"}, 24, false); err != nil {
		t.Fatal(err)
	}
	if err := m.SetJoinTokens(ctx, want); err != nil {
		t.Fatal(err)
	}
	sealed := m.Store().Read().JoinTokens()
	if holdsClear(sealed, []byte("worker-secret")) || holdsClear(sealed, []byte("manager-secret")) {
		t.Fatal("the store holds a join token in clear")
	}
	if got, ok, err := m.JoinTokens(); !ok || err != nil || got != want {
		t.Fatalf("JoinTokens = %+v %v %v, want %+v", got, ok, err, want)
	}
	if pools, _ := m.Store().Read().AddrPool(); len(pools) != 1 || pools[0] != "10.0.0.0/8" {
		t.Fatalf("the address pool changed: %v", pools)
	}
	m.Close()
	m = start(t, dir)
	if got, ok, err := m.JoinTokens(); !ok || err != nil || got != want {
		t.Fatalf("after a restart JoinTokens = %+v %v %v, want %+v", got, ok, err, want)
	}
}

// A join-token change made from tokens another change replaced meanwhile
// (a rotation of the other role, committed through another leader) is
// made again from the new ones: neither rotation undoes the other.
func TestJoinTokenChangesDoNotUndoEachOther(t *testing.T) {
	m := start(t, t.TempDir())
	ctx := testCtx(t)
	if err := m.InitAddrPool(ctx, []string{"10.0.0.0/8"}, 24, false); err != nil {
		t.Fatal(err)
	}
	if err := m.SetJoinTokens(ctx, manager.JoinTokens{Worker: "w0", Manager: "m0"}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := m.UpdateJoinTokens(ctx, func(cur manager.JoinTokens, ok bool) (manager.JoinTokens, error) {
		calls++
		if calls == 1 {
			// The manager token rotates between this read and its write.
			if err := m.SetJoinTokens(ctx, manager.JoinTokens{Worker: cur.Worker, Manager: "m1"}); err != nil {
				t.Error(err)
			}
		}
		cur.Worker = "w1"
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := manager.JoinTokens{Worker: "w1", Manager: "m1"}
	if got, _, _ := m.JoinTokens(); got != want || calls != 2 {
		t.Fatalf("tokens %+v after %d reads, want %+v after 2", got, calls, want)
	}
}
