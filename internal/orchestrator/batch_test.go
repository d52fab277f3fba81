package orchestrator

import (
	"context"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// countingProposer records how many tasks each command creates.
type countingProposer struct {
	state.Proposer
	mu      sync.Mutex
	creates []int
}

func (p *countingProposer) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	n := 0
	for _, op := range cmd.Ops {
		if op.Kind == state.OpCreateTask {
			n++
		}
	}
	p.mu.Lock()
	p.creates = append(p.creates, n)
	p.mu.Unlock()
	return p.Proposer.Propose(ctx, cmd)
}

// A large service is made in batches: no command, and no pass, makes more
// than 500 tasks, and the next batch follows the last one's commit (the
// change stream drives it; nothing polls) until the service converges.
func TestLargeServiceIsCreatedInBatches(t *testing.T) {
	const replicas = 2000
	s := newSim(t, 0, nil)
	prop := &countingProposer{Proposer: s.prop}
	s.orch.Proposer = prop
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.orch.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != context.Canceled {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	}()
	s.scale(replicas)
	waitFor(t, s.store, "2000 tasks", func(tx *state.ReadTx) bool { return liveCount(tx, s.svcID) == replicas })

	prop.mu.Lock()
	creates := append([]int(nil), prop.creates...)
	prop.mu.Unlock()
	total, batches := 0, 0
	for _, n := range creates {
		if n > maxCreatesPerPass || n > state.MaxOpsPerCommand {
			t.Errorf("a command created %d tasks, more than %d", n, maxCreatesPerPass)
		}
		if n > 0 {
			batches++
		}
		total += n
	}
	if total != replicas || batches < replicas/maxCreatesPerPass {
		t.Errorf("%d tasks made in %d commands (%v), want %d in at least %d", total, batches, creates, replicas, replicas/maxCreatesPerPass)
	}
	slots := map[uint64]bool{}
	for _, tk := range s.store.Read().TasksByService(s.svcID) {
		slots[tk.Slot] = true
	}
	if len(slots) != replicas {
		t.Errorf("%d distinct slots, want %d", len(slots), replicas)
	}
}

// One pass plans at most maxCreatesPerPass tasks for a service however
// many it lacks.
func TestPassPlansABoundedBatch(t *testing.T) {
	s := newSim(t, 0, nil)
	s.scale(api.MaxReplicas)
	if err := s.orch.pass(context.Background(), map[string]bool{s.svcID: true}, s.wakes); err != nil {
		t.Fatal(err)
	}
	if n := liveCount(s.store.Read(), s.svcID); n != maxCreatesPerPass {
		t.Fatalf("one pass made %d tasks, want %d", n, maxCreatesPerPass)
	}
}
