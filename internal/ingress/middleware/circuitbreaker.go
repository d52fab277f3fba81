package middleware

import (
	"math"
	"net/http"
	"sync"
	"time"
)

// circuitbreaker: expression (required; see cbexpr.go) is checked every
// checkPeriod (default 100ms) over the last 10 seconds of responses.
// When it holds the breaker trips: for fallbackDuration (default 10s)
// every request is answered responseCode (default 503) without reaching
// the backend; then, over recoveryDuration (default 10s), a growing
// share of requests goes through, and the expression tripping again
// starts over. As Traefik's (vulcand/oxy): NetworkErrorRatio counts 502
// and 504 answers; latency quantiles are read from a histogram with four
// buckets per doubling, so they are within 19% of the true value.
type circuitBreaker struct {
	cond        predicate
	checkPeriod time.Duration
	fallback    time.Duration
	recovery    time.Duration
	code        int
	next        http.Handler

	mu        sync.Mutex
	state     int // cbStandby, cbTripped, cbRecovering
	until     time.Time
	started   time.Time // recovery start
	lastCheck time.Time
	// allowed and seen count requests while recovering.
	allowed, seen int
	m             cbMetrics
}

const (
	cbStandby = iota
	cbTripped
	cbRecovering
)

func newCircuitBreaker(o *options) Middleware {
	expr := o.str("expression", "")
	var cond predicate
	if o.required("expression", expr) {
		var err error
		if cond, err = parseCBExpression(expr); err != nil {
			o.fail("expression", "%v", err)
		}
	}
	checkPeriod := o.duration("checkPeriod", 100*time.Millisecond)
	fallback := o.duration("fallbackDuration", 10*time.Second)
	recovery := o.duration("recoveryDuration", 10*time.Second)
	code := int(o.integer("responseCode", http.StatusServiceUnavailable, 100))
	if code > 599 {
		o.fail("responseCode", "%d is not an HTTP status", code)
	}
	return func(next http.Handler) http.Handler {
		return &circuitBreaker{cond: cond, checkPeriod: checkPeriod, fallback: fallback, recovery: recovery, code: code, next: next}
	}
}

func (cb *circuitBreaker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cb.mu.Lock()
	ok := cb.allow(start)
	cb.mu.Unlock()
	if !ok {
		http.Error(w, http.StatusText(cb.code), cb.code)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	cb.next.ServeHTTP(sw, r)
	code := sw.code
	if code == 0 {
		code = http.StatusOK
	}
	end := time.Now()
	cb.mu.Lock()
	cb.m.record(end, code, end.Sub(start))
	cb.mu.Unlock()
}

// allow moves the breaker on and reports whether the request may pass.
func (cb *circuitBreaker) allow(now time.Time) bool {
	if cb.state == cbTripped {
		if now.Before(cb.until) {
			return false
		}
		// Recovery runs from the end of the fallback.
		cb.state, cb.started, cb.allowed, cb.seen = cbRecovering, cb.until, 0, 0
		cb.m = cbMetrics{}
	}
	if now.Sub(cb.lastCheck) >= cb.checkPeriod {
		cb.lastCheck = now
		cb.m.advance(now)
		if cb.cond(&cb.m) {
			cb.state, cb.until = cbTripped, now.Add(cb.fallback)
			return false
		}
	}
	if cb.state == cbStandby {
		return true
	}
	elapsed := now.Sub(cb.started)
	if elapsed >= cb.recovery {
		cb.state = cbStandby
		return true
	}
	// Let through the share of requests recovery has reached.
	share := float64(elapsed) / float64(cb.recovery)
	cb.seen++
	if float64(cb.allowed) < share*float64(cb.seen) {
		cb.allowed++
		return true
	}
	return false
}

// statusWriter notes the final status of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// cbMetrics are the responses of the last cbWindow seconds, in one
// bucket per second.
type cbMetrics struct {
	buckets [cbWindow]cbBucket
}

const (
	cbWindow = 10
	// cbLatencyBuckets cover 1ms to about 2^18 ms, four per doubling.
	cbLatencyBuckets = 72
)

type cbBucket struct {
	second  int64 // unix second this bucket counts; 0 unused
	codes   [600]uint32
	latency [cbLatencyBuckets]uint32
}

func (m *cbMetrics) bucket(now time.Time) *cbBucket {
	s := now.Unix()
	b := &m.buckets[s%cbWindow]
	if b.second != s {
		*b = cbBucket{second: s}
	}
	return b
}

func (m *cbMetrics) record(now time.Time, code int, d time.Duration) {
	b := m.bucket(now)
	if code >= 0 && code < len(b.codes) {
		b.codes[code]++
	}
	b.latency[latencyBucket(d)]++
}

// advance forgets buckets older than the window.
func (m *cbMetrics) advance(now time.Time) {
	s := now.Unix()
	for i := range m.buckets {
		if b := &m.buckets[i]; b.second != 0 && s-b.second >= cbWindow {
			*b = cbBucket{}
		}
	}
}

func (m *cbMetrics) count(from, to int) float64 {
	var n uint64
	for i := range m.buckets {
		b := &m.buckets[i]
		for c := max(from, 0); c < min(to, len(b.codes)); c++ {
			n += uint64(b.codes[c])
		}
	}
	return float64(n)
}

func (m *cbMetrics) networkErrorRatio() float64 {
	total := m.count(0, 600)
	if total == 0 {
		return 0
	}
	return (m.count(502, 503) + m.count(504, 505)) / total
}

func (m *cbMetrics) responseCodeRatio(from, to, dFrom, dTo int) float64 {
	d := m.count(dFrom, dTo)
	if d == 0 {
		return 0
	}
	return m.count(from, to) / d
}

// latencyAtQuantileMS is the upper bound, in milliseconds, of the
// histogram bucket holding quantile q (a percentage).
func (m *cbMetrics) latencyAtQuantileMS(q float64) float64 {
	var hist [cbLatencyBuckets]uint64
	var total uint64
	for i := range m.buckets {
		for j, n := range m.buckets[i].latency {
			hist[j] += uint64(n)
			total += uint64(n)
		}
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q / 100 * float64(total)))
	var seen uint64
	for j, n := range hist {
		if seen += n; seen >= rank {
			return latencyBound(j)
		}
	}
	return latencyBound(cbLatencyBuckets - 1)
}

// latencyBucket is the first bucket whose bound is at least d.
func latencyBucket(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms <= 1 {
		return 0
	}
	i := int(math.Ceil(4 * math.Log2(ms)))
	return min(i, cbLatencyBuckets-1)
}

func latencyBound(i int) float64 { return math.Exp2(float64(i) / 4) }
