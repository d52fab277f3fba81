package dispatcher_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/state"
)

// flakyDown fails the first node status write, as Raft does when a slow
// manager cannot take the entry in time (an enqueue timeout).
type flakyDown struct {
	state.Proposer
	failed atomic.Bool
}

func (p *flakyDown) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	if len(cmd.Ops) > 0 && cmd.Ops[0].Kind == state.OpNodeStatus && p.failed.CompareAndSwap(false, true) {
		return state.Result{}, errors.New("raft apply: timed out enqueuing operation")
	}
	return p.Proposer.Propose(ctx, cmd)
}

// A node whose agent vanished is marked down even when the first attempt
// to write it fails: the failure detector tries again rather than leave
// the node ready forever, its tasks never replaced, and its session (with
// a subscription queueing every change) never ended.
func TestExpiryRetriesAFailedWrite(t *testing.T) {
	e := newEnv(t, 20*time.Millisecond)
	fp := &flakyDown{Proposer: e.p}
	e.d.Proposer = fp
	_, sub := e.store.Subscribe()
	defer sub.Close()
	e.start()
	s := e.register("n1", "10.0.0.1")
	waitNode(t, sub, "n1", isDown)
	if !fp.failed.Load() {
		t.Fatal("the first write never failed")
	}
	select {
	case <-s.Done():
	case <-testCtx(t).Done():
		t.Fatal("the session of a node marked down never ended")
	}
	if _, err := s.Heartbeat(testCtx(t)); !errors.Is(err, dispatcher.ErrNotRunning) {
		t.Errorf("Heartbeat after expiry: %v", err)
	}
}

// A new leader gives the nodes the store says are ready twice the timeout
// to find it (swarmkit's grace for nodes in an unknown state): an
// election and an agent's reconnection must not pass for a lost node.
func TestNewLeaderGivesReadyNodesTwiceTheTimeout(t *testing.T) {
	const period = 100 * time.Millisecond // timeout 300 ms
	e := newEnv(t, period)
	e.must(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: "n1", Status: api.NodeStatus{State: api.NodeStateReady}}})
	_, sub := e.store.Subscribe()
	defer sub.Close()
	t0 := time.Now()
	e.start()
	waitNode(t, sub, "n1", isDown)
	if took := time.Since(t0); took < 6*period {
		t.Fatalf("a node the new leader found ready was marked down after %s, want at least %s", took, 6*period)
	}
}
