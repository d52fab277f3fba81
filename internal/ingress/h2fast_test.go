package ingress_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// The HTTP/2 fast lane (h2fast.go) against forwardLean: two proxies on
// one table, one with the fast lane off, send the same requests to a
// raw backend whose answers each test sets byte for byte; the clients
// must get the same answers and the backend the same requests.

// cannedBackend answers each request with the bytes set for its path.
type cannedBackend struct {
	ln   net.Listener
	mu   sync.Mutex
	resp map[string]cannedAnswer
	seen []string // the request heads, normalized
	wg   sync.WaitGroup
	// released receives once per held connection that the proxy closed.
	released chan struct{}
}

type cannedAnswer struct {
	bytes string
	close bool // close the connection after the answer
	hold  bool // keep the connection open, silent, until it closes
}

func startCannedBackend(t *testing.T) *cannedBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rb := &cannedBackend{ln: ln, resp: map[string]cannedAnswer{}, released: make(chan struct{}, 16)}
	rb.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rb.wg.Go(func() { rb.serve(c) })
		}
	})
	t.Cleanup(func() { _ = ln.Close(); rb.wg.Wait() })
	return rb
}

func (rb *cannedBackend) set(path string, a cannedAnswer) {
	rb.mu.Lock()
	rb.resp[path] = a
	rb.mu.Unlock()
}

func (rb *cannedBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		var lines []string
		for k, vs := range req.Header {
			for _, v := range vs {
				lines = append(lines, k+": "+v)
			}
		}
		sort.Strings(lines)
		rb.mu.Lock()
		rb.seen = append(rb.seen, req.Method+" "+req.RequestURI+" host="+req.Host+" "+strings.Join(lines, "|"))
		a, ok := rb.resp[req.URL.Path]
		rb.mu.Unlock()
		if !ok {
			a = cannedAnswer{bytes: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"}
		}
		if _, err := io.WriteString(c, a.bytes); err != nil {
			return
		}
		if a.hold {
			_, _ = io.Copy(io.Discard, c)
			rb.released <- struct{}{}
			return
		}
		if a.close {
			return
		}
	}
}

func (rb *cannedBackend) lastSeen() string {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if len(rb.seen) == 0 {
		return ""
	}
	return rb.seen[len(rb.seen)-1]
}

// twoProxies serves table over TLS twice: fast (the fast lane on) and
// slow (off).
func twoProxies(t *testing.T, table *ingress.Table, cert tls.Certificate) (fast, slow *ingress.Proxy, fastAddr, slowAddr string) {
	t.Helper()
	start := func(off bool) (*ingress.Proxy, string) {
		p := ingress.NewProxy(table, ingress.Options{EntryPoint: ingress.EntryPointWebSecure, ErrorLog: quietLog})
		if off {
			ingress.NoH2Fast(p)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- p.ServeTLS(ln, &tls.Config{Certificates: []tls.Certificate{cert}}) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			_ = p.Shutdown(ctx)
			<-done
		})
		return p, ln.Addr().String()
	}
	fast, fastAddr = start(false)
	slow, slowAddr = start(true)
	return
}

// oneRouteTable routes every TLS request to one task at addr.
func oneRouteTable(addr string) *ingress.Table {
	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.app.rule=PathPrefix(`/`)", "traefik.http.routers.app.tls=true",
		"traefik.http.services.app.loadbalancer.server.port=80"))},
		[]*api.Task{task("t1", "s1", addr)})
	return table
}

// h2answer is what a client got, comparable between the proxies.
type h2answer struct {
	Status   int
	Header   http.Header
	Body     string
	Trailer  http.Header
	Err      bool
	Informal []string // 1xx codes and headers
}

func h2do(t *testing.T, c *http.Client, method, url string, hdr ...string) h2answer {
	t.Helper()
	var a h2answer
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			a.Informal = append(a.Informal, fmt.Sprint(code, h))
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return h2answer{Err: true}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	a.Status, a.Body, a.Err = resp.StatusCode, string(body), err != nil
	a.Header = resp.Header.Clone()
	a.Header.Del("Date")
	if len(resp.Trailer) > 0 {
		a.Trailer = resp.Trailer
	}
	for _, vs := range a.Header {
		sort.Strings(vs)
	}
	return a
}

func newH2Client(t *testing.T, leaf *x509.Certificate) *http.Client {
	c := h2Client(t, leaf)
	c.Jar = nil
	return c
}

// A table of backend answers: the fast lane's and forwardLean's
// clients get the same answers and the backend the same requests.
func TestH2FastSameAnswers(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	rb := startCannedBackend(t)
	table := oneRouteTable(rb.ln.Addr().String())
	fast, _, fastAddr, slowAddr := twoProxies(t, table, cert)
	c := newH2Client(t, leaf)
	big := strings.Repeat("abcdefghij", 200_000) // 2 MB: past every window
	cases := []struct {
		name   string
		method string
		answer cannedAnswer
		hdr    []string
	}{
		{"length", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 5\r\n\r\nhello"}, nil},
		{"head", "HEAD", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"}, nil},
		{"hop-by-hop", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n" +
			"Proxy-Authenticate: Basic\r\nTe: trailers\r\nUpgrade: h2c\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok"}, nil},
		{"sniffed type", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n<html></html>"}, nil},
		{"no body, no length", "GET", cannedAnswer{bytes: "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"}, nil},
		{"not modified", "GET", cannedAnswer{bytes: "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\nContent-Length: 10\r\n\r\n"}, nil},
		{"empty length", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}, nil},
		{"repeated length", "GET", cannedAnswer{bytes: "HTTP/1.1 201 Created\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"}, nil},
		{"chunked", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"}, nil},
		{"trailers", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nTrailer: X-T\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: done\r\n\r\n"}, nil},
		{"to the end", "GET", cannedAnswer{bytes: "HTTP/1.0 200 OK\r\nX-A: 1\r\n\r\nuntil the end", close: true}, nil},
		{"length, then close", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", close: true}, nil},
		{"large", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + fmt.Sprint(len(big)) + "\r\n\r\n" + big}, nil},
		{"error status", "GET", cannedAnswer{bytes: "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops"}, nil},
		{"early hints", "GET", cannedAnswer{bytes: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"}, nil},
		{"cut short", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", close: true}, nil},
		{"closed unanswered", "GET", cannedAnswer{close: true}, nil},
		{"garbage", "GET", cannedAnswer{bytes: "NOT HTTP\r\n\r\n", close: true}, nil},
		{"set-cookies", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"}, nil},
		{"event stream", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: x\n\n"}, nil},
		{"request headers", "GET", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
			[]string{"X-Forwarded-For", "6.6.6.6", "X-Real-Ip", "6.6.6.6", "X-Forwarded-Uri", "/x", "Te", "trailers", "Cookie", "a=1", "Cookie", "b=2", "User-Agent", "ua/1"}},
	}
	t.Cleanup(func() {
		// Every answer, cut short ones included, released its backend
		// (the handlers may still be returning).
		waitFor(t, "no request counted in flight", func() bool { return ingress.Inflight(table) == 0 })
	})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := fmt.Sprintf("/case%d", i)
			rb.set(path, tc.answer)
			before := ingress.H2Fast(fast)
			want := h2do(t, c, tc.method, "https://"+slowAddr+path+"?q=1", tc.hdr...)
			slowSeen := strings.ReplaceAll(rb.lastSeen(), slowAddr[strings.LastIndexByte(slowAddr, ':')+1:], "PORT")
			got := h2do(t, c, tc.method, "https://"+fastAddr+path+"?q=1", tc.hdr...)
			fastSeen := strings.ReplaceAll(rb.lastSeen(), fastAddr[strings.LastIndexByte(fastAddr, ':')+1:], "PORT")
			if ingress.H2Fast(fast) == before {
				t.Errorf("the fast lane did not take the request")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("fast lane answered\n%+v\nforwardLean\n%+v", got, want)
			}
			if fastSeen != slowSeen {
				t.Errorf("backend got from the fast lane\n%s\nfrom forwardLean\n%s", fastSeen, slowSeen)
			}
		})
	}
}

// Sticky cookies: set by both paths alike when the request has none or
// names another backend, not when it names the one that answers.
func TestH2FastSticky(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	a, b := startCannedBackend(t), startCannedBackend(t)
	for _, rb := range []*cannedBackend{a, b} {
		rb.set("/", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})
	}
	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.app.rule=PathPrefix(`/`)", "traefik.http.routers.app.tls=true",
		"traefik.http.services.app.loadbalancer.server.port=80",
		"traefik.http.services.app.loadbalancer.sticky.cookie.name=pin"))},
		[]*api.Task{task("t1", "s1", a.ln.Addr().String()), task("t2", "s1", b.ln.Addr().String())})
	_, _, fastAddr, slowAddr := twoProxies(t, table, cert)
	c := newH2Client(t, leaf)
	cookies := map[string]bool{}
	for range 4 {
		for _, addr := range []string{fastAddr, slowAddr} {
			ans := h2do(t, c, "GET", "https://"+addr+"/")
			sc := ans.Header.Get("Set-Cookie")
			if !strings.HasPrefix(sc, "pin=") {
				t.Fatalf("%s: no sticky cookie: %+v", addr, ans)
			}
			cookies[sc] = true
			pinned := strings.SplitN(sc, ";", 2)[0]
			again := h2do(t, c, "GET", "https://"+addr+"/", "Cookie", pinned)
			if again.Status != 200 || again.Header.Get("Set-Cookie") != "" {
				t.Errorf("%s: with its cookie: %+v", addr, again)
			}
		}
	}
	if len(cookies) != 2 {
		t.Errorf("cookies %v: want one per backend, the same from both paths", cookies)
	}
}

// A client that resets its stream mid-body: the backend connection is
// closed rather than reused (its response was not read whole), and
// the proxy goes on answering.
func TestH2FastClientReset(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	rb := startCannedBackend(t)
	rb.set("/hold", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + strings.Repeat("x", 100000), hold: true})
	rb.set("/ok", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"})
	table := oneRouteTable(rb.ln.Addr().String())
	fast, _, fastAddr, _ := twoProxies(t, table, cert)
	c := newH2Client(t, leaf)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+fastAddr+"/hold", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	cancel()
	_ = resp.Body.Close()
	select {
	case <-rb.released:
	case <-time.After(testTimeout):
		t.Fatal("the proxy kept the backend connection of the reset stream open")
	}
	for range 3 {
		if a := h2do(t, c, "GET", "https://"+fastAddr+"/ok"); a.Status != 200 || a.Body != "ok" {
			t.Fatalf("after the reset: %+v", a)
		}
	}
	if ingress.H2Fast(fast) < 4 {
		t.Errorf("fast lane took %d requests, want 4", ingress.H2Fast(fast))
	}
}

// Random backend answers (status, fields, framing, body, HEAD or GET)
// get the same answers from both paths.
func TestH2FastPropertySameAnswers(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	rb := startCannedBackend(t)
	table := oneRouteTable(rb.ln.Addr().String())
	fast, _, fastAddr, slowAddr := twoProxies(t, table, cert)
	c := newH2Client(t, leaf)
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("H2FAST_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(14, seed))
	statuses := []int{200, 200, 201, 204, 206, 301, 304, 404, 500, 503}
	names := []string{"X-A", "x-b", "Content-Type", "Cache-Control", "Set-Cookie", "Vary", "Etag", "Connection", "Keep-Alive", "Date", "Server", "Location"}
	values := []string{"1", "a, b", "text/html", "text/event-stream", "no-store", "close", "keep-alive", "X-A", "Mon, 07 Dec 2026 00:00:00 GMT", "  padded  ", ""}
	connValues := []string{"keep-alive", "X-A", "x-b, X-A", "Cache-Control, keep-alive"}
	n := 150
	if testing.Short() {
		n = 30
	}
	for i := range n {
		status := statuses[rng.IntN(len(statuses))]
		var b strings.Builder
		framing := rng.IntN(4)
		proto := "HTTP/1.1"
		if framing == 3 {
			proto = "HTTP/1.0" // to the connection's end, with no Connection: close
		}
		fmt.Fprintf(&b, "%s %d X\r\n", proto, status)
		for range rng.IntN(6) {
			name, value := names[rng.IntN(len(names))], values[rng.IntN(len(values))]
			if name == "Connection" {
				// Not "close": net/http's ReadResponse then deletes the
				// whole Connection header, so forwardLean passes on the
				// fields it names; the fast lane drops them, as the
				// HTTP/1.1 fast path does (doc.go).
				value = connValues[rng.IntN(len(connValues))]
			}
			fmt.Fprintf(&b, "%s: %s\r\n", name, value)
		}
		body := strings.Repeat("<p>", rng.IntN(3)*rng.IntN(20000))
		ans := cannedAnswer{}
		switch framing {
		case 0, 1:
			fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
		case 2:
			b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			if body != "" {
				fmt.Fprintf(&b, "%x\r\n%s\r\n", len(body), body)
			}
			b.WriteString("0\r\n\r\n")
		default:
			b.WriteString("\r\n" + body)
			ans.close = true
		}
		method := "GET"
		if rng.IntN(4) == 0 {
			method = "HEAD"
		}
		ans.bytes = b.String()
		path := fmt.Sprintf("/p%d", i)
		rb.set(path, ans)
		want := h2do(t, c, method, "https://"+slowAddr+path)
		got := h2do(t, c, method, "https://"+fastAddr+path)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d (H2FAST_SEED), %s of %q:\nfast lane %+v\nforwardLean %+v", seed, method, ans.bytes[:min(len(ans.bytes), 400)], got, want)
		}
	}
	if ingress.H2Fast(fast) < uint64(n) {
		t.Errorf("the fast lane took %d of %d requests", ingress.H2Fast(fast), n)
	}
}

// The forwarding headers only a trusted proxy may send (X-Forwarded-Prefix,
// the scheme headers, every underscore form) do not reach the backend
// over HTTP/2 either, on the fast lane or off it.
func TestH2SpoofedForwardedHeadersDropped(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	rb := startCannedBackend(t)
	table := oneRouteTable(rb.ln.Addr().String())
	fast, _, fastAddr, slowAddr := twoProxies(t, table, cert)
	c := newH2Client(t, leaf)
	spoofed := []string{"X-Forwarded-Prefix", "X-Forwarded-Scheme", "X-Scheme", "X-Forwarded-Uri",
		"X_Forwarded_For", "X_Forwarded_Proto", "X_Real_Ip", "X_Forwarded_Prefix", "X-Forwarded_Host"}
	var hdr []string
	for _, h := range spoofed {
		hdr = append(hdr, h, "spoofed")
	}
	rb.set("/spoof", cannedAnswer{bytes: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"})
	for _, addr := range []string{fastAddr, slowAddr} {
		before := ingress.H2Fast(fast)
		if a := h2do(t, c, "GET", "https://"+addr+"/spoof", hdr...); a.Status != 200 {
			t.Fatalf("%s: %+v", addr, a)
		}
		if addr == fastAddr && ingress.H2Fast(fast) == before {
			t.Errorf("the fast lane did not take the request")
		}
		if seen := rb.lastSeen(); strings.Contains(seen, "spoofed") {
			t.Errorf("%s: the backend got a spoofed forwarding header:\n%s", addr, seen)
		}
	}
}
