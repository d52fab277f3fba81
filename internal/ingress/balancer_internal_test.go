package ingress

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func benchPool(n int) *pool {
	p := &pool{rr: new(atomic.Uint64), stats: &serviceStats{}, lb: &LoadBalancer{}}
	for i := 0; i < n; i++ {
		p.backends = append(p.backends, &backend{taskID: strconv.Itoa(i)})
	}
	return p
}

// BenchmarkPick measures the balancer's pick with requests in flight, from
// parallel goroutines: the rotating-scan least-outstanding pick that the
// proxy uses.
func BenchmarkPick(b *testing.B) {
	p := benchPool(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			be := p.pick(nil)
			be.inflight.Add(1)
			be.inflight.Add(-1)
		}
	})
}

// swrr is a reference smooth weighted round-robin (nginx's), guarded by a
// mutex as it must be, to compare against pick in BenchmarkPickSWRR.
type swrr struct {
	mu      sync.Mutex
	current []int
	weight  []int
}

func (s *swrr) pick(p *pool) *backend {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, total := -1, 0
	var bestLoad int64
	for i, be := range p.backends {
		if !be.healthy() {
			continue
		}
		s.current[i] += s.weight[i]
		total += s.weight[i]
		load := be.inflight.Load()
		if best < 0 || load < bestLoad || (load == bestLoad && s.current[i] > s.current[best]) {
			best, bestLoad = i, load
		}
	}
	if best < 0 {
		return nil
	}
	s.current[best] -= total
	return p.backends[best]
}

func BenchmarkPickSWRR(b *testing.B) {
	p := benchPool(8)
	s := &swrr{current: make([]int, 8), weight: []int{1, 1, 1, 1, 1, 1, 1, 1}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			be := s.pick(p)
			be.inflight.Add(1)
			be.inflight.Add(-1)
		}
	})
}

func TestPickSkipsTriedDownGoneAndPrefersNotEjected(t *testing.T) {
	p := benchPool(4)
	p.backends[0].down.Store(true)
	p.backends[1].gone.Store(true)
	p.backends[2].eject(1 << 62)
	for i := 0; i < 8; i++ {
		if got := p.pick(nil); got != p.backends[3] {
			t.Fatalf("pick = %v, want backend 3", got.taskID)
		}
	}
	// Only an ejected backend left: it is still used rather than none.
	if got := p.pick([]*backend{p.backends[3]}); got != p.backends[2] {
		t.Fatalf("pick = %v, want the ejected backend 2 as a last resort", got)
	}
	if got := p.pick([]*backend{p.backends[2], p.backends[3]}); got != nil {
		t.Fatalf("pick = %v, want none", got.taskID)
	}
}

func TestPickIsRoundRobinAmongEqualLoads(t *testing.T) {
	p := benchPool(3)
	var seq string
	for i := 0; i < 6; i++ {
		seq += p.pick(nil).taskID
	}
	if seq != "120120" {
		t.Fatalf("sequence %s, want each backend in turn", seq)
	}
}
