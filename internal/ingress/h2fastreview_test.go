package ingress_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// A router with middlewares that pass the response writer through
// (headers with request headers only, stripprefix): the fast lane must
// forward what forwardLean forwards — the X-Forwarded-* headers the
// middlewares saw and changed (Traefik's order), not the lane's own.
func TestH2FastMiddlewareForwardedHeaders(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	rb := startCannedBackend(t)
	rb.set("/q", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})
	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.app.rule=PathPrefix(`/`)", "traefik.http.routers.app.tls=true",
		"traefik.http.routers.app.middlewares=c",
		"traefik.http.middlewares.c.chain.middlewares=h,strip",
		"traefik.http.middlewares.h.headers.customrequestheaders.X-Forwarded-Proto=wss",
		"traefik.http.middlewares.h.headers.customrequestheaders.X-Forwarded-Port=8443",
		"traefik.http.middlewares.h.headers.customrequestheaders.X-Forwarded-Uri=/from-mw",
		"traefik.http.middlewares.strip.stripprefix.prefixes=/p",
		"traefik.http.services.app.loadbalancer.server.port=80"))},
		[]*api.Task{task("t1", "s1", rb.ln.Addr().String())})
	_, _, fastAddr, slowAddr := twoProxies(t, table, cert)
	c := newH2Client(t, leaf)
	seen := func(addr string) (h2answer, string) {
		a := h2do(t, c, "GET", "https://"+addr+"/p/q", "X-Forwarded-For", "6.6.6.6")
		return a, strings.ReplaceAll(rb.lastSeen(), addr[strings.LastIndexByte(addr, ':')+1:], "PORT")
	}
	want, wantSeen := seen(slowAddr)
	got, gotSeen := seen(fastAddr)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fast answered %+v, forwardLean %+v", got, want)
	}
	if !strings.Contains(wantSeen, "X-Forwarded-Proto: wss") {
		t.Fatalf("forwardLean did not forward the middleware's header: %s", wantSeen)
	}
	if gotSeen != wantSeen {
		t.Errorf("backend got from the fast lane\n%s\nfrom forwardLean\n%s", gotSeen, wantSeen)
	}
}

// A backend that switches protocols for a request that asked for no
// upgrade (the lane and forwardLean take none): 502, as ReverseProxy
// and the HTTP/1.1 fast path answer, and its connection, now speaking
// another protocol, is not pooled for the next request.
func TestH2FastUnaskedSwitch(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	rb := startCannedBackend(t)
	rb.set("/switch", cannedAnswer{bytes: "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", hold: true})
	rb.set("/ok", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})
	table := oneRouteTable(rb.ln.Addr().String())
	_, _, fastAddr, slowAddr := twoProxies(t, table, cert)
	for _, addr := range []string{fastAddr, slowAddr} {
		c := newH2Client(t, leaf)
		c.Timeout = 3 * time.Second
		if a := h2do(t, c, "GET", "https://"+addr+"/switch"); a.Status != http.StatusBadGateway {
			t.Errorf("%s: unasked 101 answered %+v, want 502", addr, a)
		}
		if a := h2do(t, c, "GET", "https://"+addr+"/ok"); a.Status != 200 || a.Body != "ok" {
			t.Errorf("%s: the request after the unasked 101: %+v", addr, a)
		}
	}
}

// Parallel streams on one connection, each path its own head and body
// (framed by length, chunked, HEAD): every stream gets its own answer,
// none a piece of another's (the exchanges and head copies are pooled).
// Run with -race.
func TestH2FastParallelStreams(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	rb := startCannedBackend(t)
	const paths = 16
	for i := range paths {
		body := strings.Repeat(fmt.Sprintf("<%d>", i), 100*(i+1))
		a := fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Path: p%d\r\nX-Pad-%d: %s\r\nContent-Length: %d\r\n\r\n%s", i, i, strings.Repeat("v", i*50), len(body), body)
		if i%4 == 3 {
			a = fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Path: p%d\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", i, len(body), body)
		}
		rb.set(fmt.Sprintf("/p%d", i), cannedAnswer{bytes: a})
	}
	table := oneRouteTable(rb.ln.Addr().String())
	fast, _, fastAddr, _ := twoProxies(t, table, cert)
	c := newH2Client(t, leaf)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := range 40 {
				i := (g*7 + n) % paths
				method := "GET"
				if n%5 == 4 {
					method = "HEAD"
				}
				a := h2do(t, c, method, fmt.Sprintf("https://%s/p%d", fastAddr, i))
				want := ""
				if method == "GET" {
					want = strings.Repeat(fmt.Sprintf("<%d>", i), 100*(i+1))
				}
				if a.Status != 200 || a.Header.Get("X-Path") != fmt.Sprintf("p%d", i) || a.Body != want {
					t.Errorf("%s /p%d: %d %v body %d bytes", method, i, a.Status, a.Header, len(a.Body))
					return
				}
				if i%4 != 3 && a.Header.Get(fmt.Sprintf("X-Pad-%d", i)) != strings.Repeat("v", i*50) {
					t.Errorf("/p%d: header %v", i, a.Header)
					return
				}
			}
		})
	}
	wg.Wait()
	if ingress.H2Fast(fast) < 8*40 {
		t.Errorf("the fast lane took %d requests", ingress.H2Fast(fast))
	}
	waitFor(t, "no request counted in flight", func() bool { return ingress.Inflight(table) == 0 })
}
