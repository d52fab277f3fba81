package orchestrator

import (
	"context"
	"fmt"
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

// addService stores another replicated service like the sim's, with id.
func (s *sim) addService(id string, replicas uint64) {
	svc := *s.store.Read().Service(s.svcID)
	svc.ID = id
	svc.Spec.Name = "web-" + id
	svc.Spec.Mode = api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}}
	s.write(state.Op{Kind: state.OpCreateService, Service: &svc})
}

// A pass over many large services (a stack of them, deployed at once)
// makes at most maxCreatesPerPass tasks in all, not that many per
// service, and asks to look again at once at the services it did not
// finish: none starves, and all converge.
func TestPassBoundsCreatesAcrossServices(t *testing.T) {
	const services, replicas = 6, 300
	s := newSim(t, replicas, nil)
	ids := []string{s.svcID}
	for i := 1; i < services; i++ {
		id := fmt.Sprintf("svc%d", i+1)
		s.addService(id, replicas)
		ids = append(ids, id)
	}
	dirty := map[string]bool{}
	for _, id := range ids {
		dirty[id] = true
	}
	if err := s.orch.pass(context.Background(), dirty, s.wakes); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, id := range ids {
		n := liveCount(s.store.Read(), id)
		total += n
		if n < replicas && n == 0 {
			if at, ok := s.wakes[id]; !ok || at.After(s.clock.Now()) {
				t.Errorf("service %s got no task and no wake-up now (wake %v, ok %v)", id, at, ok)
			}
		}
	}
	if total > maxCreatesPerPass {
		t.Fatalf("one pass over %d services made %d tasks, more than %d", services, total, maxCreatesPerPass)
	}

	// Run: the rest follow, for every service.
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- s.orch.Run(ctx) }()
	defer func() {
		cancel()
		<-runDone
	}()
	waitFor(t, s.store, "every service's tasks", func(tx *state.ReadTx) bool {
		for _, id := range ids {
			if liveCount(tx, id) != replicas {
				return false
			}
		}
		return true
	})
}
