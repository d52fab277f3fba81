package ingress_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

func TestRetryOnRefusedConnection(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	good := startBackend(t, "good", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())},
		[]*api.Task{task("dead", "s1", refusedAddr(t)), task("good", "s1", good.addr())})
	c := e.client()
	for i := 0; i < 10; i++ {
		method, body := "GET", ""
		if i%2 == 1 {
			method, body = "POST", "payload-"+itoa(i)
		}
		r := e.do(c, method, "/", body)
		if r.status != http.StatusOK || r.echo.Backend != "good" || r.echo.Body != body {
			t.Fatalf("%s %d: %d from %q body %q", method, i, r.status, r.echo.Backend, r.echo.Body)
		}
	}
	if n := e.proxy.Stats().Services["web/signup-web"].Retries; n < 1 {
		t.Errorf("retries = %d; the dead backend was never tried", n)
	}
}

func TestStickyBackendRefusingIsRedispatched(t *testing.T) {
	// A task crashes before the task stream reports it: its sticky
	// clients' requests are refused there, sent to another task, and the
	// clients re-pinned (HAProxy's option redispatch).
	//
	// doomed answers with Connection: close, so the proxy keeps no idle
	// connection to it: a POST written to a pooled connection that the
	// backend closed is not retried (it may have been processed), and
	// this test is about refused connections.
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	doomed := startBackend(t, "doomed", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echoAs("doomed")(w, r)
	}))
	good := startBackend(t, "good", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels("traefik.http.services.signup-web.loadbalancer.sticky.cookie=true"))},
		[]*api.Task{task("doomed", "s1", doomed.addr()), task("good", "s1", good.addr())})
	var c *http.Client
	for i := 0; c == nil; i++ {
		if i == 10 {
			t.Fatal("no client pinned to doomed after 10 tries")
		}
		jc := e.jarClient()
		if e.do(jc, "GET", "/", "").echo.Backend == "doomed" {
			c = jc
		}
	}
	doomed.stop()
	r := e.do(c, "POST", "/", "order")
	if r.status != http.StatusOK || r.echo.Backend != "good" || r.echo.Body != "order" {
		t.Fatalf("after the crash: %d from %q body %q", r.status, r.echo.Backend, r.echo.Body)
	}
	if !strings.HasPrefix(r.header.Get("Set-Cookie"), "_461b3=") {
		t.Fatalf("no new cookie after redispatch: %q", r.header.Get("Set-Cookie"))
	}
	for i := 0; i < 5; i++ {
		if r := e.do(c, "GET", "/", ""); r.echo.Backend != "good" || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("re-pinned request %d: %q, Set-Cookie %q", i, r.echo.Backend, r.header.Get("Set-Cookie"))
		}
	}
}

// dropper reads the request, then closes the connection without a
// response: the request was sent, no response byte came back.
func dropper(t *testing.T) *backend {
	return startBackend(t, "dropper", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
}

func TestNoRetryOfNonIdempotentRequestOnceSent(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	d, good := dropper(t), startBackend(t, "good", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())},
		[]*api.Task{task("d", "s1", d.addr()), task("good", "s1", good.addr())})
	c := e.client()
	var bad, ok int
	for i := 0; i < 6; i++ {
		r := e.do(c, "POST", "/", "charge-card")
		switch {
		case r.status == http.StatusBadGateway:
			bad++
		case r.status == http.StatusOK && r.echo.Backend == "good":
			ok++
		default:
			t.Fatalf("POST %d: %d %q", i, r.status, r.body)
		}
	}
	// Round-robin sends every other POST to the dropper: each of those
	// must fail rather than reach a second backend.
	if bad == 0 || d.hits.Load() != int64(bad) || good.hits.Load() != int64(ok) {
		t.Errorf("502s %d, dropper hits %d, good hits %d (ok %d)", bad, d.hits.Load(), good.hits.Load(), ok)
	}
}

func TestRetryOfIdempotentRequestWithoutResponse(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	d, good := dropper(t), startBackend(t, "good", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())},
		[]*api.Task{task("d", "s1", d.addr()), task("good", "s1", good.addr())})
	c := e.client()
	for i := 0; i < 6; i++ {
		if r := e.do(c, "GET", "/", ""); r.status != http.StatusOK || r.echo.Backend != "good" {
			t.Fatalf("GET %d: %d from %q", i, r.status, r.echo.Backend)
		}
	}
	if d.hits.Load() == 0 {
		t.Errorf("the dropper was never tried")
	}
}

func TestAllBackendsDownIs502(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())},
		[]*api.Task{task("x", "s1", refusedAddr(t)), task("y", "s1", refusedAddr(t))})
	if r := e.get("/"); r.status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", r.status)
	}
	if st := e.proxy.Stats().Services["web/signup-web"]; st.BackendErrors != 1 || st.Retries != 1 {
		t.Errorf("stats = %+v; want 1 error after 1 retry", st)
	}
}
