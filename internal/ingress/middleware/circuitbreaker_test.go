package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Expressions from Traefik's circuitbreaker documentation.
func TestCBExpression(t *testing.T) {
	var m cbMetrics
	now := time.Unix(1000, 0)
	for i := 0; i < 6; i++ {
		m.record(now, 200, 10*time.Millisecond)
	}
	for i := 0; i < 3; i++ {
		m.record(now, 502, 200*time.Millisecond)
	}
	m.record(now, 500, 900*time.Millisecond)
	// 10 responses: 3 network errors, 4 in 500-599, latencies 10ms ×6,
	// 200ms ×3, 900ms.
	tests := []struct {
		expr string
		want bool
	}{
		{"NetworkErrorRatio() > 0.30", false},
		{"NetworkErrorRatio() > 0.25", true},
		{"0.25 < NetworkErrorRatio()", true},
		{"ResponseCodeRatio(500, 600, 0, 600) > 0.25", true},
		{"ResponseCodeRatio(500, 600, 0, 600) > 0.5", false},
		{"LatencyAtQuantileMS(50.0) > 100", false},
		{"LatencyAtQuantileMS(90.0) > 100", true},
		{"NetworkErrorRatio() > 0.5 || ResponseCodeRatio(500, 600, 0, 600) > 0.25", true},
		{"NetworkErrorRatio() > 0.5 && ResponseCodeRatio(500, 600, 0, 600) > 0.25", false},
		{"(LatencyAtQuantileMS(50.0) < 20) && NetworkErrorRatio() >= 0.3", true},
	}
	for _, tt := range tests {
		p, err := parseCBExpression(tt.expr)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if got := p(&m); got != tt.want {
			t.Errorf("%s = %v, want %v (p50 %v, p90 %v)", tt.expr, got, tt.want, m.latencyAtQuantileMS(50), m.latencyAtQuantileMS(90))
		}
	}
	// Ten seconds on, the window is empty.
	m.advance(now.Add(10 * time.Second))
	if m.count(0, 600) != 0 {
		t.Errorf("old responses still counted")
	}
	for _, bad := range []string{"", "NetworkErrorRatio()", "Foo() > 1", "NetworkErrorRatio() > x", "ResponseCodeRatio(600, 500, 0, 600) > 0.1", "LatencyAtQuantileMS(0) > 1", "NetworkErrorRatio() + 1 > 2"} {
		if _, err := parseCBExpression(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestCircuitBreakerStates(t *testing.T) {
	m, err := New("circuitbreaker", opts("expression=NetworkErrorRatio() > 0.5", "checkPeriod=1s", "fallbackDuration=10s", "recoveryDuration=10s"))
	if err != nil {
		t.Fatal(err)
	}
	cb := m(http.NotFoundHandler()).(*circuitBreaker)
	t0 := time.Unix(5000, 0)
	if !cb.allow(t0) {
		t.Fatal("a new breaker refuses")
	}
	cb.m.record(t0, 502, time.Millisecond)
	cb.m.record(t0, 504, time.Millisecond)
	if !cb.allow(t0.Add(500 * time.Millisecond)) {
		t.Error("checked before checkPeriod")
	}
	if cb.allow(t0.Add(time.Second)) || cb.state != cbTripped {
		t.Fatal("not tripped by 100% network errors")
	}
	if cb.allow(t0.Add(5 * time.Second)) {
		t.Error("passed while tripped")
	}
	// Recovery: about half the requests pass half-way through.
	passed := 0
	for i := range 100 {
		if cb.allow(t0.Add(16*time.Second + time.Duration(i)*time.Millisecond)) {
			passed++
		}
	}
	if cb.state != cbRecovering || passed < 40 || passed > 60 {
		t.Errorf("half-way through recovery: state %d, %d of 100 passed", cb.state, passed)
	}
	if !cb.allow(t0.Add(25*time.Second)) || cb.state != cbStandby {
		t.Errorf("not back to standby after recovery")
	}
}

// Through ServeHTTP: a backend answering 502 trips the breaker, which
// then answers 503 itself.
func TestCircuitBreakerServes(t *testing.T) {
	m, err := New("circuitbreaker", opts("expression=NetworkErrorRatio() > 0.5", "checkPeriod=1ns", "responseCode=429"))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusBadGateway)
	}))
	codes := []int{}
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req("GET", "/"))
		codes = append(codes, rec.Code)
	}
	if calls != 1 || codes[0] != 502 || codes[1] != 429 || codes[2] != 429 {
		t.Errorf("codes %v, backend calls %d; want 502 then 429s with one call", codes, calls)
	}
	wantErr(t, "circuitbreaker", nil, "expression", "required")
	wantErr(t, "circuitbreaker", opts("expression=Foo() > 1"), "unknown metric")
	wantErr(t, "circuitbreaker", opts("expression=NetworkErrorRatio() > 0.5", "fallbackDuration=soon"), "fallbackDuration")
}

// The expression is bounded: it is evaluated under the breaker's lock
// every checkPeriod (as short as a nanosecond, so on every request), and
// a 64 KiB label held some 3,000 metrics, each summing 6,000 counters.
func TestCircuitBreakerExpressionBounded(t *testing.T) {
	terms := make([]string, maxCBComparisons+1)
	for i := range terms {
		terms[i] = "ResponseCodeRatio(0, 600, 0, 600) > 2"
	}
	wantErr(t, "circuitbreaker", opts("expression="+strings.Join(terms, " || ")), "expression", "at most")
	if _, err := New("circuitbreaker", opts("expression="+strings.Join(terms[1:], " || "))); err != nil {
		t.Errorf("%d comparisons: %v", len(terms)-1, err)
	}
}
