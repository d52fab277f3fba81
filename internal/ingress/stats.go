package ingress

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the latency
// histograms (Prometheus' default buckets).
var LatencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// histogram counts durations into LatencyBuckets; it is lock-free.
type histogram struct {
	counts [12]atomic.Uint64 // len(LatencyBuckets) + the +Inf bucket
	sumNs  atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(LatencyBuckets, s) // first bound >= s
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Bounds: LatencyBuckets, Counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
		out.Count += out.Counts[i]
	}
	out.Sum = time.Duration(h.sumNs.Load())
	return out
}

// Histogram is a snapshot of a latency histogram.
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds; Counts has one more
	// element, the count above the last bound (+Inf).
	Bounds []float64
	// Counts are per bucket, not cumulative.
	Counts []uint64
	Count  uint64
	Sum    time.Duration
}

// Quantile estimates the q-quantile (0 < q ≤ 1) as the upper bound of the
// bucket it falls in; +Inf when it falls above the last bound, 0 when
// empty.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.Count)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			if i < len(h.Bounds) {
				return h.Bounds[i]
			}
			break
		}
	}
	return math.Inf(1)
}

// routerStats are a router's counters; svcLabel is the Traefik service
// it forwards to, as the metrics name it.
type routerStats struct {
	reqs     reqCounter
	svcLabel atomic.Pointer[string]
}

// serviceStats are a Traefik service's (load balancer's) counters.
type serviceStats struct {
	reqs      reqCounter
	retries   atomic.Uint64
	noBackend atomic.Uint64
	errors    atomic.Uint64
}

// Stats is a snapshot of the proxy's counters, keyed by
// "SHOALSERVICE/NAME" (routers and Traefik services are named per shoal
// service).
type Stats struct {
	Routers  map[string]RouterStats
	Services map[string]ServiceStats
	// Unrouted counts requests no router matched (answered 404).
	Unrouted uint64
	// OpenConns is the number of client connections open now, and
	// RefusedConns those closed at accept because Options.MaxConns were
	// open (Proxy.Stats only).
	OpenConns    int64
	RefusedConns uint64
}

// RouterStats counts the requests a router took.
type RouterStats struct {
	Requests uint64
	// ByClass counts responses by status class: "2xx", "5xx", …
	ByClass map[string]uint64
	Latency Histogram
}

// ServiceStats counts the requests sent to a Traefik service.
type ServiceStats struct {
	Requests uint64
	ByClass  map[string]uint64
	Latency  Histogram
	// Retries counts attempts repeated on another backend.
	Retries uint64
	// NoBackend counts requests answered 503 for want of a healthy task.
	NoBackend uint64
	// BackendErrors counts requests that failed at every attempt (502/504).
	BackendErrors uint64
}

// statsRegistry keeps counters across routing-table rebuilds, so a table
// change does not reset them; counters of a removed service go with it.
type statsRegistry struct {
	mu          sync.Mutex
	routers     map[string]*routerStats
	services    map[string]*serviceStats
	entryPoints map[string]*entryStats
	unrouted    atomic.Uint64
}

// entryStats are an entry point's counters: every request its proxies
// answered, and their connections.
type entryStats struct {
	reqs    reqCounter
	proxies []connCounter
}

// connCounter is what the metrics read of a proxy's connections.
type connCounter interface {
	Open() int64
	Refused() uint64
}

func newStatsRegistry() *statsRegistry {
	return &statsRegistry{routers: map[string]*routerStats{}, services: map[string]*serviceStats{},
		entryPoints: map[string]*entryStats{}}
}

// router returns the counters of router key, which forwards to the
// Traefik service svcLabel (as the metrics name it).
func (r *statsRegistry) router(key, svcLabel string) *routerStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.routers[key]
	if s == nil {
		s = &routerStats{}
		r.routers[key] = s
	}
	if old := s.svcLabel.Load(); old == nil || *old != svcLabel {
		s.svcLabel.Store(&svcLabel)
	}
	return s
}

func (r *statsRegistry) service(key string) *serviceStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.services[key]
	if s == nil {
		s = &serviceStats{}
		r.services[key] = s
	}
	return s
}

// entryPoint returns the counters of entry point name, adding conns,
// a proxy serving it, to what it counts connections of.
func (r *statsRegistry) entryPoint(name string, conns connCounter) *entryStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.entryPoints[name]
	if s == nil {
		s = &entryStats{}
		r.entryPoints[name] = s
	}
	s.proxies = append(s.proxies, conns)
	return s
}

// retain drops the counters whose keys are not in keep.
func (r *statsRegistry) retain(routers, services map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k := range r.routers {
		if !routers[k] {
			delete(r.routers, k)
		}
	}
	for k := range r.services {
		if !services[k] {
			delete(r.services, k)
		}
	}
}

func (r *statsRegistry) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Stats{
		Routers:  make(map[string]RouterStats, len(r.routers)),
		Services: make(map[string]ServiceStats, len(r.services)),
		Unrouted: r.unrouted.Load(),
	}
	for k, s := range r.routers {
		n, m, lat := s.reqs.snapshot()
		out.Routers[k] = RouterStats{Requests: n, ByClass: m, Latency: lat}
	}
	for k, s := range r.services {
		n, m, lat := s.reqs.snapshot()
		out.Services[k] = ServiceStats{
			Requests: n, ByClass: m, Latency: lat,
			Retries: s.retries.Load(), NoBackend: s.noBackend.Load(), BackendErrors: s.errors.Load(),
		}
	}
	return out
}
