package middleware

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Examples from Traefik's ipallowlist documentation.
func TestIPAllowList(t *testing.T) {
	tests := []struct {
		name   string
		opts   []Option
		remote string
		xff    string
		want   int
	}{
		{"in range", opts("sourceRange=127.0.0.1/32,192.168.1.7"), "192.168.1.7:4000", "", 200},
		{"loopback", opts("sourceRange=127.0.0.1/32,192.168.1.7"), "127.0.0.1:4000", "", 200},
		{"outside", opts("sourceRange=127.0.0.1/32,192.168.1.7"), "192.168.1.8:4000", "", 403},
		{"xff ignored by default", opts("sourceRange=10.0.0.0/8"), "192.168.1.8:4000", "10.0.0.1", 403},
		{"mapped v4", opts("sourceRange=10.0.0.0/8"), "[::ffff:10.1.2.3]:80", "", 200},
		{"v6", opts("sourceRange=2001:db8::/32"), "[2001:db8::1]:80", "", 200},
		// depth=2 and X-Forwarded-For "10.0.0.1,11.0.0.1,12.0.0.1" → 11.0.0.1
		{"depth", opts("sourceRange=11.0.0.0/8", "ipStrategy.depth=2"), "192.168.1.8:4000", "10.0.0.1,11.0.0.1,12.0.0.1", 200},
		{"depth other", opts("sourceRange=12.0.0.0/8", "ipStrategy.depth=2"), "192.168.1.8:4000", "10.0.0.1,11.0.0.1,12.0.0.1", 403},
		{"depth too deep", opts("sourceRange=0.0.0.0/0", "ipStrategy.depth=5"), "192.168.1.8:4000", "10.0.0.1", 403},
		{"excluded", opts("sourceRange=10.0.0.0/8", "ipStrategy.excludedIPs=12.0.0.1,11.0.0.1"), "1.1.1.1:80", "10.0.0.1,11.0.0.1,12.0.0.1", 200},
		{"status", opts("sourceRange=10.0.0.0/8", "rejectStatusCode=404"), "1.1.1.1:80", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req("GET", "/")
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			rec, s := serve(t, "ipallowlist", tt.opts, r)
			if rec.Code != tt.want || s.called != (tt.want == 200) {
				t.Errorf("status %d (called %v), want %d", rec.Code, s.called, tt.want)
			}
		})
	}
	wantErr(t, "ipallowlist", nil, "sourceRange", "required")
	wantErr(t, "ipallowlist", opts("sourceRange=10.0.0.300"), "not an IP address")
	wantErr(t, "ipallowlist", opts("sourceRange=10.0.0.1", "ipStrategy.ipv6Subnet=64"), "ipv6Subnet")
}

func TestRateLimit(t *testing.T) {
	// average=1 per minute with burst 2: two pass, the third would wait
	// a minute, far past the longest wait, and gets 429.
	m, err := New("ratelimit", opts("average=1", "period=1m", "burst=2"))
	if err != nil {
		t.Fatal(err)
	}
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	send := func(remote, xff string) *httptest.ResponseRecorder { return sendFrom(h, remote, xff) }
	for i, want := range []int{200, 200, 429, 429} {
		rec := send("10.0.0.1:1000", "")
		if rec.Code != want {
			t.Fatalf("request %d: %d, want %d", i, rec.Code, want)
		}
		if want == 429 && rec.Header().Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	if rec := send("10.0.0.2:1000", ""); rec.Code != 200 {
		t.Errorf("another client: %d, want 200 (its own bucket)", rec.Code)
	}
	if rec := send("10.0.0.1:2000", ""); rec.Code != 429 {
		t.Errorf("same client, other port: %d, want 429", rec.Code)
	}

	// sourceCriterion.requestHeaderName groups by the header.
	m, err = New("ratelimit", opts("average=1", "period=1h", "sourceCriterion.requestHeaderName=X-User"))
	if err != nil {
		t.Fatal(err)
	}
	h = m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	codes := func(user string) int {
		r := req("GET", "/", "X-User: "+user)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	if a, a2, b := codes("a"), codes("a"), codes("b"); a != 200 || a2 != 429 || b != 200 {
		t.Errorf("by header: a %d, a again %d, b %d; want 200 429 200", a, a2, b)
	}

	// average 0 is no limit.
	if m, err = New("ratelimit", opts("average=0")); err != nil {
		t.Fatal(err)
	}
	rec, s := serve(t, "ratelimit", opts("average=0"), req("GET", "/"))
	if rec.Code != 200 || !s.called {
		t.Errorf("average 0: %d", rec.Code)
	}
	wantErr(t, "ratelimit", opts("average=1", "sourceCriterion.requestHost=true", "sourceCriterion.ipStrategy.depth=1"), "mutually exclusive")
	wantErr(t, "ratelimit", opts("average=-1"), "average")
	wantErr(t, "ratelimit", opts("average=1", "period=soon"), "period")
}

func TestInFlightReq(t *testing.T) {
	m, err := New("inflightreq", opts("amount=1"))
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Block") != "" {
			entered <- struct{}{}
			<-release
		}
	}))
	send := func(host string, block bool) int {
		r := req("GET", "http://"+host+"/")
		if block {
			r.Header.Set("Block", "1")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	done := make(chan int)
	go func() { done <- send("a.example", true) }()
	<-entered
	if c := send("a.example", false); c != 429 {
		t.Errorf("second request to the same host while one is in flight: %d, want 429", c)
	}
	if c := send("b.example", false); c != 200 {
		t.Errorf("another host: %d, want 200", c)
	}
	close(release)
	if c := <-done; c != 200 {
		t.Errorf("first request: %d", c)
	}
	if c := send("a.example", false); c != 200 {
		t.Errorf("after the first finished: %d, want 200", c)
	}
	wantErr(t, "inflightreq", nil, "amount", "required")
	wantErr(t, "inflightreq", opts("amount=0"), "amount")
}

// The sources a rate limit remembers are bounded in size as in number: a
// client's header value may be as long as the ingress's MaxHeaderBytes,
// and 65536 of them kept whole would hold gigabytes.
func TestRateLimitKeepsLongSourcesSmall(t *testing.T) {
	m, err := New("ratelimit", opts("average=1", "period=1h", "sourceCriterion.requestHeaderName=X-User"))
	if err != nil {
		t.Fatal(err)
	}
	rl := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})).(*rateLimit)
	long := strings.Repeat("u", 64<<10)
	code := func(user string) int {
		rec := httptest.NewRecorder()
		rl.ServeHTTP(rec, req("GET", "/", "X-User: "+user))
		return rec.Code
	}
	if a, a2, b := code(long+"a"), code(long+"a"), code(long+"b"); a != 200 || a2 != 429 || b != 200 {
		t.Errorf("long sources: a %d, a again %d, b %d; want 200 429 200", a, a2, b)
	}
	for k := range rl.buckets {
		if len(k) > maxSourceKey {
			t.Errorf("a source of %d bytes is kept whole (at most %d)", len(k), maxSourceKey)
		}
	}
}

// With ipStrategy.depth, clients are counted by the address a trusted
// proxy put in X-Forwarded-For; a client whose header holds fewer
// addresses (not a trusted proxy: the entry point dropped it) is counted
// by its own connection, not under one key shared with every such
// client.
func TestRateLimitDepthSources(t *testing.T) {
	m, err := New("ratelimit", opts("average=1", "period=1h", "sourceCriterion.ipStrategy.depth=1"))
	if err != nil {
		t.Fatal(err)
	}
	h := m(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	code := func(remote, xff string) int { return sendFrom(h, remote, xff).Code }
	// Behind the trusted proxy 10.0.0.9: one bucket per forwarded client.
	if a, a2, b := code("10.0.0.9:1", "203.0.113.1"), code("10.0.0.9:2", "203.0.113.1"), code("10.0.0.9:3", "203.0.113.2"); a != 200 || a2 != 429 || b != 200 {
		t.Errorf("forwarded clients: a %d, a again %d, b %d; want 200 429 200", a, a2, b)
	}
	// Direct clients: one bucket each.
	if c, c2, d := code("198.51.100.1:1", ""), code("198.51.100.1:2", ""), code("198.51.100.2:1", ""); c != 200 || c2 != 429 || d != 200 {
		t.Errorf("direct clients: c %d, c again %d, d %d; want 200 429 200", c, c2, d)
	}
}

// sendFrom serves h a GET from remote, with X-Forwarded-For xff when set.
func sendFrom(h http.Handler, remote, xff string) *httptest.ResponseRecorder {
	r := req("GET", "/")
	r.RemoteAddr = remote
	if xff != "" {
		r.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}
