package ingress_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// dashLabels protect a dashboard with basicauth and strip its prefix, as
// the Traefik and Swarmpit stacks of dockerswarm.rocks do.
func dashLabels(extra ...string) map[string]string {
	return labels(append([]string{
		"traefik.http.routers.dash.rule=PathPrefix(`/dash`)",
		"traefik.http.routers.dash.middlewares=admin-auth,strip",
		"traefik.http.middlewares.admin-auth.basicauth.users=" + bcryptUser,
		"traefik.http.middlewares.strip.stripprefix.prefixes=/dash",
		"traefik.http.services.dash.loadbalancer.server.port=80",
	}, extra...)...)
}

func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// dashAndPlain serves the dashboard of dashLabels on /dash and a router
// without middlewares on /plain, both from one backend.
func dashAndPlain(t *testing.T) (*env, *backend) {
	t.Helper()
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{
		service("s1", "dash", dashLabels()),
		service("s2", "plain", labels(
			"traefik.http.routers.p.rule=PathPrefix(`/plain`)",
			"traefik.http.services.p.loadbalancer.server.port=80",
		)),
	}, []*api.Task{task("t1", "s1", b.addr()), task("t2", "s2", b.addr())})
	return e, b
}

// A router with middlewares is handed from the fast path to net/http,
// which applies them in order; a router without keeps the fast path.
func TestMiddlewaresApplyOnEveryPath(t *testing.T) {
	e, b := dashAndPlain(t)

	r := e.get("/dash/api/x")
	if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Basic realm="traefik"` {
		t.Fatalf("no credentials: %d %q, want 401 with a Basic challenge", r.status, r.header.Get("WWW-Authenticate"))
	}
	if r := e.get("/dash/api/x", "Authorization", basicAuth("admin", "wrong")); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", r.status)
	}
	if b.hits.Load() != 0 {
		t.Fatalf("the backend was reached without credentials")
	}
	r = e.get("/dash/api/x?q=1", "Authorization", basicAuth("admin", "s3cret"), "X-Forwarded-Prefix", "/spoofed")
	if r.status != http.StatusOK || r.echo.Path != "/api/x" {
		t.Fatalf("with credentials: %d, backend path %q; want 200 and /api/x", r.status, r.echo.Path)
	}
	if got := r.echo.Header.Values("X-Forwarded-Prefix"); len(got) != 1 || got[0] != "/dash" {
		t.Errorf("X-Forwarded-Prefix = %q, want [/dash] (a client's own is dropped)", got)
	}
	if r.echo.Header.Get("X-Forwarded-For") != "127.0.0.1" || r.echo.Header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("forwarded headers: %v", r.echo.Header)
	}
	if ingress.Handoffs(e.proxy) != 0 {
		t.Errorf("basicauth and stripprefix were handed to net/http; the fast path runs them")
	}

	// HTTP/1.0 goes to net/http from the start: the same answers.
	rc := e.dialRaw()
	rc.send("GET /dash/ HTTP/1.0\r\nHost: x\r\n\r\n")
	if resp, _ := rc.read("GET"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("HTTP/1.0 without credentials: %d, want 401", resp.StatusCode)
	}

	before := ingress.Handoffs(e.proxy)
	if r := e.get("/plain/x"); r.status != http.StatusOK || r.echo.Path != "/plain/x" {
		t.Fatalf("plain router: %d %q", r.status, r.echo.Path)
	}
	if ingress.Handoffs(e.proxy) != before {
		t.Errorf("a router without middlewares left the fast path")
	}

	routes := e.table.Routes()
	for _, ri := range routes {
		if ri.Router == "dash" && strings.Join(ri.Middlewares, ",") != "admin-auth,strip" {
			t.Errorf("Routes() middlewares = %v", ri.Middlewares)
		}
	}
}

// Middlewares see the forwarded headers Traefik's entry point sets, and
// a headers middleware's request headers reach the backend over them.
func TestMiddlewareHeadersOverrideForwarded(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.r.rule=PathPrefix(`/`)",
		"traefik.http.routers.r.middlewares=proto",
		"traefik.http.middlewares.proto.headers.customrequestheaders.X-Forwarded-Proto=https",
		"traefik.http.middlewares.proto.headers.frameDeny=true",
		"traefik.http.services.app.loadbalancer.server.port=80",
	))}, []*api.Task{task("t1", "s1", b.addr())})
	r := e.get("/x")
	if r.status != 200 || r.echo.Header.Get("X-Forwarded-Proto") != "https" || r.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("status %d, backend X-Forwarded-Proto %q, response X-Frame-Options %q",
			r.status, r.echo.Header.Get("X-Forwarded-Proto"), r.header.Get("X-Frame-Options"))
	}
}

// A running service whose labels the ingress cannot honour (set by
// another client or an older version) fails closed: its routers answer
// 503 naming the label, on both paths, and its tasks get nothing.
func TestRefusedRouterAnswers503NamingTheLabel(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "dash", labels(
		"traefik.http.routers.dash.rule=PathPrefix(`/`)",
		"traefik.http.routers.dash.middlewares=admin-auth",
		"traefik.http.middlewares.admin-auth.plugin.blockpath.regex=^/admin",
		"traefik.http.services.dash.loadbalancer.server.port=80",
	))}, []*api.Task{task("t1", "s1", b.addr())})
	const label = "traefik.http.middlewares.admin-auth.plugin.blockpath.regex"
	r := e.get("/")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, label) || !strings.Contains(r.body, "not supported") {
		t.Fatalf("fast path: %d %q, want 503 naming %s", r.status, r.body, label)
	}
	rc := e.dialRaw()
	rc.send("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, label) {
		t.Fatalf("net/http path: %d %q, want 503 naming %s", resp.StatusCode, body, label)
	}
	if b.hits.Load() != 0 {
		t.Errorf("a refused router reached its task")
	}
	routes := e.table.Routes()
	if len(routes) != 1 || !strings.Contains(routes[0].Refused, label) {
		t.Errorf("Routes() = %+v", routes)
	}

	// Fixed labels serve again.
	e.table.Apply(serviceEvent("update", service("s1", "dash", dashLabels())))
	if r := e.get("/dash/", "Authorization", basicAuth("admin", "s3cret")); r.status != http.StatusOK {
		t.Errorf("after the fix: %d %q", r.status, r.body)
	}
}

// One keep-alive connection: a request without middlewares, then ones
// whose router has basicauth and stripprefix (the fast path runs them;
// with SlowMiddlewares the connection moves to net/http), then both again.
func TestMiddlewareHandoffMidConnection(t *testing.T) {
	for _, slow := range []bool{false, true} {
		e, _ := dashAndPlain(t)
		want := uint64(0) // basicauth and stripprefix run on the fast path
		if slow {
			ingress.SlowMiddlewares(e.proxy)
			want = 1
		}
		rc := e.dialRaw()
		auth := "Authorization: " + basicAuth("admin", "s3cret") + "\r\n"
		steps := []struct {
			req  string
			code int
			path string
		}{
			{"GET /plain/1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, "/plain/1"},
			{"GET /dash/2 HTTP/1.1\r\nHost: x\r\n\r\n", 401, ""},
			{"GET /dash/3 HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 200, "/3"},
			{"POST /plain/4 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", 200, "/plain/4"},
		}
		for i, s := range steps {
			rc.send(s.req)
			resp, body := rc.read(strings.Fields(s.req)[0])
			if resp.StatusCode != s.code || (s.path != "" && !strings.Contains(body, `"Path":"`+s.path+`"`)) {
				t.Fatalf("slow=%v step %d: %d %q, want %d with path %q", slow, i, resp.StatusCode, body, s.code, s.path)
			}
		}
		if ingress.Handoffs(e.proxy) != want {
			t.Errorf("slow=%v: handoffs = %d, want %d", slow, ingress.Handoffs(e.proxy), want)
		}
	}
}

// retry.attempts raises the attempts of the router's requests: with one
// attempt by default, half the requests meet the dead task; with retry
// every one is sent on to the live task.
func TestRetryMiddlewareAttempts(t *testing.T) {
	for _, withRetry := range []bool{false, true} {
		e := newEnv(t, ingress.TableOptions{EjectTime: -1}, ingress.Options{MaxAttempts: 1})
		b := startBackend(t, "a", nil)
		lbl := []string{
			"traefik.http.routers.r.rule=PathPrefix(`/`)",
			"traefik.http.services.s.loadbalancer.server.port=80",
		}
		if withRetry {
			lbl = append(lbl, "traefik.http.routers.r.middlewares=retry",
				"traefik.http.middlewares.retry.retry.attempts=2", "traefik.http.middlewares.retry.retry.initialInterval=1ms")
		} else {
			// The same path (net/http) without the retry.
			lbl = append(lbl, "traefik.http.routers.r.middlewares=h", "traefik.http.middlewares.h.headers.frameDeny=true")
		}
		e.table.Reset([]*api.Service{service("s1", "app", labels(lbl...))},
			[]*api.Task{task("t1", "s1", b.addr()), task("t2", "s1", refusedAddr(t))})
		failed := 0
		c := e.client()
		for range 10 {
			if r := e.do(c, http.MethodGet, "/", ""); r.status != http.StatusOK {
				failed++
			}
		}
		if withRetry && failed != 0 {
			t.Errorf("with retry.attempts=2: %d of 10 failed", failed)
		}
		if !withRetry && failed == 0 {
			t.Errorf("without retry none failed: the test does not test retry")
		}
	}
	_, err := ingress.ParseLabels("x", labels("traefik.http.middlewares.r.retry.attempts=0"))
	if err == nil || !strings.Contains(err.Error(), "traefik.http.middlewares.r.retry.attempts") {
		t.Errorf("attempts=0: %v", err)
	}
}

// ipStrategy.depth counts the hops of X-Forwarded-For before the peer, as
// Traefik's: behind a trusted load balancer depth 1 is the client it
// saw; a client that is no trusted proxy has no hops (its own header is
// dropped), so depth finds nothing and the allow list refuses.
func TestIPAllowListDepthBehindTrustedProxy(t *testing.T) {
	lbl := labels(
		"traefik.http.routers.r.rule=PathPrefix(`/`)",
		"traefik.http.routers.r.middlewares=only",
		"traefik.http.middlewares.only.ipallowlist.sourcerange=203.0.113.7",
		"traefik.http.middlewares.only.ipallowlist.ipstrategy.depth=1",
		"traefik.http.services.s.loadbalancer.server.port=80",
	)
	for _, trusted := range []bool{true, false} {
		var popts ingress.Options
		if trusted {
			popts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		}
		e := newEnv(t, ingress.TableOptions{}, popts)
		b := startBackend(t, "a", nil)
		e.table.Reset([]*api.Service{service("s1", "app", lbl)}, []*api.Task{task("t1", "s1", b.addr())})
		r := e.get("/", "X-Forwarded-For", "203.0.113.7")
		switch {
		case trusted && (r.status != 200 || r.echo.Header.Get("X-Forwarded-For") != "203.0.113.7, 127.0.0.1"):
			t.Errorf("behind a trusted proxy: %d, backend X-Forwarded-For %q", r.status, r.echo.Header.Get("X-Forwarded-For"))
		case !trusted && r.status != http.StatusForbidden:
			t.Errorf("from an untrusted client claiming the address: %d, want 403", r.status)
		}
	}
}

// A middleware's state (here a rate limit's buckets) lives as long as
// the service's labels: a spec update that leaves them as they were (a
// scale, a new image) and a resynchronization (Reset, as after the
// agent reconnects to the managers) keep it, where a client would have
// its burst again.
func TestMiddlewareStateOutlivesUnrelatedSpecChanges(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "a", nil)
	svc := service("s1", "app", labels(
		"traefik.http.routers.r.rule=PathPrefix(`/`)",
		"traefik.http.routers.r.middlewares=rl",
		"traefik.http.middlewares.rl.ratelimit.average=1",
		"traefik.http.middlewares.rl.ratelimit.period=1h",
		"traefik.http.services.app.loadbalancer.server.port=80",
	))
	tk := task("t1", "s1", b.addr())
	e.table.Reset([]*api.Service{svc}, []*api.Task{tk})
	if r := e.get("/"); r.status != http.StatusOK {
		t.Fatalf("first request: %d, want 200", r.status)
	}
	if r := e.get("/"); r.status != http.StatusTooManyRequests {
		t.Fatalf("second request: %d, want 429", r.status)
	}
	scaled := *svc
	scaled.Version, scaled.SpecVersion = svc.Version+1, svc.SpecVersion+1
	scaled.Spec.TaskTemplate.ForceUpdate++
	e.table.Apply(serviceEvent(api.ActionUpdate, &scaled))
	if r := e.get("/"); r.status != http.StatusTooManyRequests {
		t.Errorf("after a spec update with the same labels: %d, want 429 (the rate limit forgot the client)", r.status)
	}
	e.table.Reset([]*api.Service{&scaled}, []*api.Task{tk})
	if r := e.get("/"); r.status != http.StatusTooManyRequests {
		t.Errorf("after a Reset with the same labels: %d, want 429 (the rate limit forgot the client)", r.status)
	}
}

// As Traefik's retry, the wait grows from initialInterval to twice it
// by the last retry, never past: 6 attempts at 100ms wait about 0.7s in
// all, where doubling every time would wait 3.1s (and 100 attempts
// longer than any client).
func TestRetryMiddlewareWaitsAtMostTwiceTheInterval(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{EjectTime: -1}, ingress.Options{})
	var tasks []*api.Task
	for i := range 6 {
		tasks = append(tasks, task(fmt.Sprintf("t%d", i), "s1", refusedAddr(t)))
	}
	e.table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.r.rule=PathPrefix(`/`)",
		"traefik.http.routers.r.middlewares=retry",
		"traefik.http.middlewares.retry.retry.attempts=6", "traefik.http.middlewares.retry.retry.initialInterval=100ms",
		"traefik.http.services.s.loadbalancer.server.port=80",
	))}, tasks)
	start := time.Now()
	r := e.get("/")
	elapsed := time.Since(start)
	if r.status != http.StatusBadGateway && r.status != http.StatusServiceUnavailable {
		t.Errorf("every task refused: %d, want 502 or 503", r.status)
	}
	if elapsed < 500*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("6 attempts at initialInterval 100ms took %s, want about 0.7s (5 waits from 100ms to 200ms)", elapsed)
	}
}
