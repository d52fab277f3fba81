package ingress_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// TestResponseHeaderTimeoutOnReusedConnIsNotResent: a GET that times out
// waiting for its response on a reused keep-alive connection is not sent
// again on a new connection (a slow backend is not a closed connection):
// 504 after one attempt, as on a new connection.
func TestResponseHeaderTimeoutOnReusedConnIsNotResent(t *testing.T) {
	var requests atomic.Int64
	release := make(chan struct{})
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			if requests.Add(1) == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				continue
			}
			<-release // every later request is slow
			return
		}
	})
	defer close(release)
	e := newEnv(t, ingress.TableOptions{ResponseHeaderTimeout: 50 * time.Millisecond}, ingress.Options{})
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", b.addr())})
	c := e.client()
	if r := e.do(c, "GET", "/", ""); r.status != 200 {
		t.Fatalf("first GET: %d", r.status)
	}
	if r := e.do(c, "GET", "/", ""); r.status != http.StatusGatewayTimeout {
		t.Fatalf("slow GET: %d, want 504", r.status)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("backend got %d requests, want 2: the timed-out GET was sent again", n)
	}
}

// TestEarlyResponseConnNotPooled: a backend answering before it has the
// whole request body leaves a connection that cannot carry another
// request; it is not put back in the pool.
func TestEarlyResponseConnNotPooled(t *testing.T) {
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			// Answer at once, body unread.
			io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\nno")
		}
	})
	e := oneBackend(t, b.addr(), ingress.Options{})
	rc := e.dialRaw()
	rc.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 10))
	if resp, body := rc.read("POST"); resp.StatusCode != 401 || body != "no" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	rc.closed()
	waitFor(t, "the request to be counted", func() bool { return e.proxy.Stats().Services["web/signup-web"].Requests == 1 })
	if alive, total := ingress.IdleConnsAlive(e.table); total != 0 {
		t.Errorf("%d idle backend connections (%d alive) after a request whose body was cut off, want 0", total, alive)
	}
}

// TestStatusLineControlBytesRefused: a backend status line whose reason
// phrase holds a bare CR (or another control byte) is not passed on: a
// lenient client would take what follows the CR as a header line.
func TestStatusLineControlBytesRefused(t *testing.T) {
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\rSet-Cookie: session=attacker\r\nContent-Length: 2\r\n\r\nok")
	})
	e := oneBackend(t, b.addr(), ingress.Options{})
	rc := e.dialRaw()
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	line, err := rc.br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.TrimSuffix(line, "\r\n"), "\r") {
		t.Fatalf("status line with a bare CR passed on: %q", line)
	}
	if !strings.HasPrefix(line, "HTTP/1.1 502 ") {
		t.Fatalf("got %q, want a 502", line)
	}
}

// TestFirstHeadWithinReadHeaderTimeout: a new connection's first request
// head must arrive whole within ReadHeaderTimeout of the connection, as
// on net/http: sending its first byte does not start the clock again.
func TestFirstHeadWithinReadHeaderTimeout(t *testing.T) {
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{ReadHeaderTimeout: 300 * time.Millisecond})
	rc := e.dialRaw()
	time.Sleep(200 * time.Millisecond)
	rc.send("G")
	time.Sleep(200 * time.Millisecond) // 400ms after the connection
	_, _ = io.WriteString(rc.c, "ET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if !rc.closed() {
		t.Fatalf("a head sent over 400ms was served with a ReadHeaderTimeout of 300ms")
	}
	if n := a.hits.Load(); n != 0 {
		t.Errorf("backend hits = %d, want 0", n)
	}
}

// TestSpoofedForwardedHeadersDropped: the other X-Forwarded-* headers
// Traefik's forwardedHeaders removes from untrusted clients (request URI
// and method, the mTLS client certificate that Traefik's
// passTLSClientCert sets, the prefix stripprefix sets, the scheme) and
// the underscore forms of every forwarding header (X_Forwarded_For,
// which CGI and PHP backends read as X-Forwarded-For) do not reach a
// backend from an untrusted client, on either path, with or without
// middlewares; a trusted proxy's do.
func TestSpoofedForwardedHeadersDropped(t *testing.T) {
	spoofed := []string{"X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Tls-Client-Cert", "X-Forwarded-Tls-Client-Cert-Info",
		"X-Forwarded-Prefix", "X-Forwarded-Scheme", "X-Scheme",
		"X_Forwarded_For", "X_Forwarded_Proto", "X_Forwarded_Host", "X_Forwarded_Port", "X_Forwarded_Server", "X_Real_Ip",
		"X_Forwarded_Prefix", "X-Forwarded_Uri"}
	a := startBackend(t, "a", nil)
	for _, trusted := range []bool{false, true} {
		for _, mw := range []bool{false, true} {
			var popts ingress.Options
			if trusted {
				popts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
			e := newEnv(t, ingress.TableOptions{}, popts)
			lbl := webLabels()
			if mw {
				lbl = webLabels("traefik.http.routers.web.middlewares=h",
					"traefik.http.middlewares.h.headers.customrequestheaders.X-Mw=1")
			}
			e.table.Reset([]*api.Service{service("s1", "web", lbl)}, []*api.Task{task("t1", "s1", a.addr())})
			slow := httptest.NewServer(e.proxy)
			defer slow.Close()
			for _, url := range []string{e.url, slow.URL} {
				var hdr []string
				for _, h := range spoofed {
					hdr = append(hdr, strings.ToLower(h), "spoofed")
				}
				e.url = url
				r := e.get("/", hdr...)
				if mw && r.echo.Header.Get("X-Mw") != "1" {
					t.Fatalf("middlewares=%v %s: the router's middleware did not run", mw, url)
				}
				for _, h := range spoofed {
					if got, want := r.echo.Header.Get(h), map[bool]string{true: "spoofed"}[trusted]; got != want {
						t.Errorf("trusted=%v middlewares=%v %s: %s = %q, want %q", trusted, mw, url, h, got, want)
					}
				}
			}
		}
	}
}

// TestShutdownServesHandedOverRequest: during Shutdown, a connection
// accepted before it still has its first request served, as on
// net/http, also when the fast path hands that request over to net/http
// (HTTP/1.0 here; an upgrade or Expect alike).
func TestShutdownServesHandedOverRequest(t *testing.T) {
	a := startBackend(t, "a", nil)
	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	defer table.Close()
	p := ingress.NewProxy(table, ingress.Options{ErrorLog: quietLog})
	table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", a.addr())})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// Shutdown closes the listener: a connection still in its backlog
	// would be reset, not served.
	waitFor(t, "both connections accepted", func() bool { return ingress.OpenConns(p) == 2 })
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(context.Background()) }()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	for i, req := range []string{"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n", "GET /old HTTP/1.0\r\nHost: a\r\n\r\n"} {
		io.WriteString(conns[i], req)
		resp, err := http.ReadResponse(bufio.NewReader(conns[i]), nil)
		if err != nil {
			t.Fatalf("%q during Shutdown: %v", req, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !resp.Close || !strings.Contains(string(body), `"Path":"`) {
			t.Errorf("%q during Shutdown: %d close %v %s", req, resp.StatusCode, resp.Close, body)
		}
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return")
	}
}
