package ingress_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// rawConn is a client connection to the proxy driven byte by byte.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func (e *env) dialRaw() *rawConn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return &rawConn{t: e.t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response to a request of method, body included.
func (rc *rawConn) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("read body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

// closed reports whether the proxy closed the connection (EOF next).
func (rc *rawConn) closed() bool {
	_, err := rc.br.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// rawBackend is a TCP server answering with serve, one goroutine per
// connection; conns counts the connections it accepted.
type rawBackend struct {
	ln    net.Listener
	conns atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  map[net.Conn]struct{}
}

func startRawBackend(t *testing.T, serve func(n int64, c net.Conn, br *bufio.Reader)) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln, open: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := b.conns.Add(1)
			b.mu.Lock()
			b.open[c] = struct{}{}
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer func() {
					b.mu.Lock()
					delete(b.open, c)
					b.mu.Unlock()
					c.Close()
				}()
				serve(n, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for c := range b.open {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *rawBackend) addr() string { return b.ln.Addr().String() }

// readRequest reads one request from a raw backend connection, body
// included.
func readRequest(br *bufio.Reader) (*http.Request, string, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(req.Body)
	return req, string(b), err
}

func oneBackend(t *testing.T, addr string, popts ingress.Options) *env {
	e := newEnv(t, ingress.TableOptions{}, popts)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", addr)})
	return e
}

func TestChunkedBodies(t *testing.T) {
	got := make(chan string, 10)
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			req, body, err := readRequest(br)
			if err != nil {
				return
			}
			got <- fmt.Sprintf("%v %q %v", req.TransferEncoding, body, req.Trailer)
			switch req.URL.Path {
			case "/chunked-response":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"+
					"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n")
			default:
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	e := oneBackend(t, b.addr(), ingress.Options{})
	rc := e.dialRaw()

	// A chunked request body, with an extension and a trailer, reaches
	// the backend whole.
	rc.send("POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nX-T: 1\r\n\r\n")
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("chunked request: %d %q", resp.StatusCode, body)
	}
	if g := <-got; g != `[chunked] "wikipedia" map[X-T:[1]]` {
		t.Errorf("backend got %s", g)
	}

	// A chunked response comes back chunked, with its trailer.
	rc.send("GET /chunked-response HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, body := rc.read("GET")
	if resp.StatusCode != 200 || body != "abcde" || len(resp.TransferEncoding) != 1 || resp.Trailer.Get("X-Sum") != "5" {
		t.Fatalf("chunked response: %d %q %v trailer %v", resp.StatusCode, body, resp.TransferEncoding, resp.Trailer)
	}
	<-got

	// An empty chunked body.
	rc.send("PUT /empty HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if resp, _ := rc.read("PUT"); resp.StatusCode != 200 {
		t.Fatalf("empty chunked: %d", resp.StatusCode)
	}
	if g := <-got; g != `[chunked] "" map[]` {
		t.Errorf("backend got %s", g)
	}

	// Malformed chunking: 400, and the connection closes.
	rc.send("POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nwiki\r\n0\r\n\r\n")
	if resp, _ := rc.read("POST"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed chunked body: %d, want 400", resp.StatusCode)
	}
	if !rc.closed() {
		t.Errorf("connection open after a malformed body")
	}
}

func TestPipelinedRequests(t *testing.T) {
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{})
	rc := e.dialRaw()
	rc.send("GET /one HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" +
		"HEAD /three HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /four HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	for _, want := range []struct{ method, path, body string }{{"GET", "/one", ""}, {"POST", "/two", "hello"}, {"HEAD", "/three", ""}, {"GET", "/four", ""}} {
		resp, body := rc.read(want.method)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d", want.method, want.path, resp.StatusCode)
		}
		if want.method == "HEAD" {
			if body != "" {
				t.Errorf("HEAD response has a body %q", body)
			}
			continue
		}
		if !strings.Contains(body, `"Path":"`+want.path+`"`) || !strings.Contains(body, `"Body":"`+want.body+`"`) {
			t.Errorf("%s %s: %s", want.method, want.path, body)
		}
	}
	if !rc.closed() {
		t.Errorf("connection open after Connection: close")
	}
}

func TestLargeHeadIs431AndCloses(t *testing.T) {
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{MaxHeaderBytes: 1024})
	rc := e.dialRaw()
	rc.send("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("x", 8192) + "\r\n\r\n")
	resp, body := rc.read("GET")
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || body != "431 Request Header Fields Too Large" {
		t.Fatalf("got %d %q, want 431", resp.StatusCode, body)
	}
	if !rc.closed() {
		t.Errorf("connection open after 431")
	}
	if a.hits.Load() != 0 {
		t.Errorf("the backend got the request")
	}
}

func TestBadRequestIs400AndCloses(t *testing.T) {
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{})
	for name, raw := range map[string]string{
		"no host":         "GET / HTTP/1.1\r\n\r\n",
		"two hosts":       "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"bad header name": "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
		"bad escape":      "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"bad length":      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
		"garbage":         "hello\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			rc := e.dialRaw()
			// A good request first: the bad one comes on a connection
			// the fast path has been serving.
			rc.send("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
			if resp, _ := rc.read("GET"); resp.StatusCode != 200 {
				t.Fatalf("good request: %d", resp.StatusCode)
			}
			rc.send(raw)
			if resp, _ := rc.read("GET"); resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("got %d, want 400", resp.StatusCode)
			}
			if !rc.closed() {
				t.Errorf("connection open after 400")
			}
		})
	}
	if n := a.hits.Load(); n != 6 {
		t.Errorf("backend hits = %d, want the 6 good requests only", n)
	}
}

func TestFallbackServesHTTP10AndExpect(t *testing.T) {
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{})
	rc := e.dialRaw()
	rc.send("GET /old HTTP/1.0\r\nHost: a\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || !strings.Contains(body, `"Path":"/old"`) {
		t.Fatalf("HTTP/1.0: %d %s", resp.StatusCode, body)
	}
	rc = e.dialRaw()
	rc.send("POST /exp HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v %v", resp, err)
	}
	rc.send("data")
	// The backend's own 100 Continue may be relayed too: a client reads
	// past any number of 1xx responses (RFC 9110, 15.2).
	resp, body := rc.read("POST")
	for i := 0; i < 2 && resp.StatusCode == http.StatusContinue; i++ {
		resp, body = rc.read("POST")
	}
	if resp.StatusCode != 200 || !strings.Contains(body, `"Body":"data"`) {
		t.Fatalf("after 100-continue: %d %s", resp.StatusCode, body)
	}
}

// TestReusedConnClosedByBackendIsResent: the backend answers the first
// request of each connection, and closes the connection on the second
// without an answer (as a backend closing an idle keep-alive connection
// just as a request arrives). A GET is sent again on a new connection to
// the same backend, transparently; a POST, which may have been processed,
// is not.
func TestReusedConnClosedByBackendIsResent(t *testing.T) {
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		_, _, _ = readRequest(br) // then close without answering
	})
	e := oneBackend(t, b.addr(), ingress.Options{})
	c := e.client()
	for i := 0; i < 5; i++ {
		if r := e.do(c, "GET", "/", ""); r.status != 200 || r.body != "ok" {
			t.Fatalf("GET %d: %d %q", i, r.status, r.body)
		}
	}
	if n := b.conns.Load(); n < 3 {
		t.Errorf("backend connections = %d: the pooled connection was never reused", n)
	}
	if st := e.proxy.Stats().Services["web/signup-web"]; st.Retries != 0 || st.BackendErrors != 0 {
		t.Errorf("stats = %+v: a resend on the same backend is no retry", st)
	}
	// The pool now holds a connection whose next request is dropped.
	if r := e.do(c, "POST", "/", "x"); r.status != http.StatusBadGateway {
		t.Fatalf("POST on a connection closed without an answer: %d, want 502", r.status)
	}
}

// TestIdleConnClosedByBackendIsNotReused: a backend that closes each
// connection after its answer (without saying so) never sees a request on
// a closed connection, POSTs included.
func TestIdleConnClosedByBackendIsNotReused(t *testing.T) {
	var closedConns atomic.Int64
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		if _, _, err := readRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		c.Close()
		closedConns.Add(1)
	})
	e := oneBackend(t, b.addr(), ingress.Options{})
	c := e.client()
	for i := 0; i < 10; i++ {
		// Wait for the backend's close to reach the proxy's socket (the
		// liveness check sees it), as it has when a backend closed an
		// idle connection a while ago.
		want := int64(i)
		waitFor(t, "the backend to close", func() bool { return closedConns.Load() >= want })
		waitFor(t, "the close to arrive", func() bool { alive, _ := ingress.IdleConnsAlive(e.table); return alive == 0 })
		if r := e.do(c, "POST", "/", "x"); r.status != 200 {
			t.Fatalf("POST %d: %d %q", i, r.status, r.body)
		}
	}
}

func TestResponsesWithoutBody(t *testing.T) {
	a := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}))
	e := oneBackend(t, a.addr(), ingress.Options{})
	rc := e.dialRaw()
	rc.send("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc.read("HEAD"); resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
		t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	rc.send("GET /204 HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 204 || body != "" {
		t.Fatalf("204: %d %q", resp.StatusCode, body)
	}
	rc.send("GET /304 HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 304 || body != "" || resp.Header.Get("Etag") != `"x"` {
		t.Fatalf("304: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// The connection is still in step.
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("GET after: %d %q", resp.StatusCode, body)
	}
}

func TestResponseUntilCloseIsChunked(t *testing.T) {
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		req, _, err := readRequest(br)
		if err != nil {
			return
		}
		proto := "HTTP/1.1"
		if req.URL.Path == "/old" {
			proto = "HTTP/1.0"
		}
		io.WriteString(c, proto+" 200 OK\r\nContent-Type: text/plain\r\n\r\nno length,")
		io.WriteString(c, " read until close")
	})
	e := oneBackend(t, b.addr(), ingress.Options{})
	rc := e.dialRaw()
	for _, path := range []string{"/", "/old", "/"} {
		rc.send("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || body != "no length, read until close" || len(resp.TransferEncoding) != 1 || resp.Close {
			t.Fatalf("%s: %d %q %v close %v", path, resp.StatusCode, body, resp.TransferEncoding, resp.Close)
		}
	}
}

func TestClientDisconnectMidBody(t *testing.T) {
	bodyErr := make(chan error, 1)
	a := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/upload" {
			_, err := io.Copy(io.Discard, r.Body)
			bodyErr <- err
		}
		io.WriteString(w, "ok")
	}))
	e := oneBackend(t, a.addr(), ingress.Options{})
	rc := e.dialRaw()
	rc.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + strings.Repeat("x", 5000))
	waitFor(t, "the upload to reach the backend", func() bool { return a.hits.Load() == 1 })
	rc.c.Close()
	if err := <-bodyErr; err == nil {
		t.Fatalf("the backend read a whole body from a client that left")
	}
	waitFor(t, "the request to be counted", func() bool { return e.proxy.Stats().Services["web/signup-web"].Requests == 1 })
	st := e.proxy.Stats().Services["web/signup-web"]
	if st.ByClass["4xx"] != 1 || st.BackendErrors != 0 {
		t.Errorf("stats = %+v, want one 499", st)
	}
	// The proxy serves on.
	if r := e.get("/"); r.status != 200 || r.body != "ok" {
		t.Fatalf("next request: %d %q", r.status, r.body)
	}
}

func TestLargeBodiesBothWays(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	a := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) != big && r.Method == "POST" {
			http.Error(w, fmt.Sprintf("body of %d bytes", len(body)), 500)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		io.WriteString(w, big)
	}))
	e := oneBackend(t, a.addr(), ingress.Options{})
	c := e.client()
	for i := 0; i < 3; i++ {
		r := e.do(c, "POST", "/", big)
		if r.status != 200 || r.body != big {
			t.Fatalf("round %d: %d, %d-byte body", i, r.status, len(r.body))
		}
	}
	// Chunked upload of the same.
	req, _ := http.NewRequest("POST", e.url+"/", io.MultiReader(strings.NewReader(big[:1000]), strings.NewReader(big[1000:])))
	req.ContentLength = -1
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != big {
		t.Fatalf("chunked upload: %d, %d bytes", resp.StatusCode, len(b))
	}
}

// TestShutdownLetsInFlightRequestFinish: Shutdown closes the listener and
// idle connections, and waits for a request in flight on the fast path.
func TestShutdownLetsInFlightRequestFinish(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	a := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	}))
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

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleBR := bufio.NewReader(idle)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, err := http.ReadResponse(idleBR, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered

	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(context.Background()) }()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	// The idle connection is closed by Shutdown.
	if _, err := idleBR.ReadByte(); err == nil {
		t.Errorf("idle connection still open")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "done" || !resp.Close {
		t.Errorf("in-flight request: %d %q close %v", resp.StatusCode, body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestRemovedBackendIdleConnsClosed: a backend leaving the table has its
// idle keep-alive connections closed.
func TestRemovedBackendIdleConnsClosed(t *testing.T) {
	keepAlive := func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}
	a, b := startRawBackend(t, keepAlive), startRawBackend(t, keepAlive)
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	svc := service("s1", "web", webLabels())
	ta := task("ta", "s1", a.addr())
	e.table.Reset([]*api.Service{svc}, []*api.Task{ta, task("tb", "s1", b.addr())})
	c := e.client()
	for i := 0; i < 10; i++ {
		e.do(c, "GET", "/", "")
	}
	if a.openConns() == 0 {
		t.Fatal("no connection to a")
	}
	e.table.Apply(taskEvent(api.ActionUpdate, with(ta, func(t *api.Task) { t.DesiredState = api.TaskStateShutdown })))
	waitFor(t, "a's connections to close", func() bool { return a.openConns() == 0 })
	if b.openConns() == 0 {
		t.Errorf("b's connections were closed too")
	}
}

func (b *rawBackend) openConns() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.open)
}

func TestResponseHeaderTimeoutIs504WithoutRetry(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
		})
	}
	a, b := startBackend(t, "a", slow("a")), startBackend(t, "b", slow("b"))
	e := newEnv(t, ingress.TableOptions{ResponseHeaderTimeout: 20 * time.Millisecond}, ingress.Options{})
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("ta", "s1", a.addr()), task("tb", "s1", b.addr())})
	if r := e.get("/"); r.status != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", r.status)
	}
	if st := e.proxy.Stats().Services["web/signup-web"]; st.Retries != 0 || st.BackendErrors != 1 {
		t.Errorf("stats = %+v: a timeout is not retried", st)
	}
	// Under load the 504 can come before the backend's handler ran.
	waitFor(t, "the request to reach a backend", func() bool { return a.hits.Load()+b.hits.Load() > 0 })
	if n := a.hits.Load() + b.hits.Load(); n != 1 {
		t.Errorf("backends got %d requests, want 1", n)
	}
}

// TestFastPathForwardsAsNetHTTPPath sends the same requests through the
// fast path (Serve) and through the net/http path (the Proxy as an
// http.Handler) and checks that the backend receives the same request:
// target, Host, headers (forwarding and hop-by-hop handling), framing and
// body.
func TestFastPathForwardsAsNetHTTPPath(t *testing.T) {
	type seen struct {
		Method, RequestURI, Host string
		Header                   http.Header
		ContentLength            int64
		TransferEncoding         []string
		Body                     string
	}
	a := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_ = json.NewEncoder(w).Encode(seen{r.Method, r.RequestURI, r.Host, r.Header, r.ContentLength, r.TransferEncoding, string(body)})
	}))
	requests := []string{
		"GET /p?q=1 HTTP/1.1\r\nHost: shop.example.com:8443\r\nX-Forwarded-For: 6.6.6.6\r\nx-forwarded-for: 7.7.7.7\r\n" +
			"X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nX-Forwarded-Port: 1\r\nX-Forwarded-Server: s\r\nX-Real-Ip: 6.6.6.6\r\n" +
			"Forwarded: for=6.6.6.6\r\nConnection: X-Drop, keep-alive\r\nX-Drop: 1\r\nTe: trailers, deflate\r\nKeep-Alive: 5\r\n" +
			"Proxy-Authorization: x\r\nProxy-Connection: x\r\nTrailer: X-T\r\nuser-agent: ua\r\nx-multi: 1\r\nX-Multi: 2\r\n\r\n",
		"POST /form HTTP/1.1\r\nHost: shop.example.com\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
		"POST /empty HTTP/1.1\r\nHost: h\r\n\r\n",
		"DELETE /d HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /d HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"PUT /chunked HTTP/1.1\r\nHost: [::1]:99\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /a%2Fb%41|c?x=%zz;y=1&z=2 HTTP/1.1\r\nHost: h\r\nX-Real-Ip: \r\n\r\n",
		"GET /(x)!*?a=1& HTTP/1.1\r\nHost: h.\r\nCookie: a=b\r\nCookie: c=d\r\n\r\n",
	}
	for _, trusted := range []bool{false, true} {
		// AllowEncodedSlash: the %2F request above is forwarded, not 400.
		popts := ingress.Options{AllowEncodedSlash: true}
		if trusted {
			popts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		}
		e := newEnv(t, ingress.TableOptions{}, popts)
		e.table.Reset([]*api.Service{
			service("s1", "web", webLabels()),
			service("s2", "nohost", labels("traefik.http.routers.r.rule=Path(`/nohost`)",
				"traefik.http.services.s.loadbalancer.server.port=80", "traefik.http.services.s.loadbalancer.passhostheader=false")),
		}, []*api.Task{task("t1", "s1", a.addr()), task("t2", "s2", a.addr())})
		slow := httptest.NewServer(e.proxy)
		defer slow.Close()
		for _, raw := range append(requests, "GET /nohost HTTP/1.1\r\nHost: h\r\n\r\n") {
			var got [2]seen
			for i, addr := range []string{e.addr, slow.Listener.Addr().String()} {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(c, raw)
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.NewDecoder(resp.Body).Decode(&got[i]); err != nil {
					t.Fatalf("%q: %d %v", raw, resp.StatusCode, err)
				}
				resp.Body.Close()
				c.Close()
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Errorf("trusted=%v %q:\nfast path: %+v\nnet/http:  %+v", trusted, raw, got[0], got[1])
			}
		}
		if n := e.proxy.Stats().Unrouted; n != 0 {
			t.Errorf("%d requests unrouted", n)
		}
	}
}

// TestFastPathAnswersAsNetHTTPPath is the same comparison for responses:
// the client sees the same status, headers (but Date, which net/http adds
// when a backend sends none), framing, body and trailers on both paths.
func TestFastPathAnswersAsNetHTTPPath(t *testing.T) {
	canned := map[string]string{
		"/plain": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: X-Hop\r\nX-Hop: 1\r\n" +
			"Keep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nx-lower: v\r\nProxy-Authenticate: Basic\r\n\r\nhello",
		"/chunked": "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n" +
			"2\r\nab\r\n1\r\nc\r\n0\r\nX-Sum: 3\r\n\r\n",
		"/204":    "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
		"/304":    "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n",
		"/head":   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 42\r\n\r\n",
		"/eof":    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
		"/http10": "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"/length-and-chunked": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"1\r\nx\r\n0\r\n\r\n",
		"/early-hints": "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx",
	}
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			io.WriteString(c, canned[req.URL.Path])
			if req.URL.Path == "/eof" || req.URL.Path == "/http10" {
				return
			}
		}
	})
	for _, sticky := range []bool{false, true} {
		e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
		var extra []string
		if sticky {
			extra = append(extra, "traefik.http.services.signup-web.loadbalancer.sticky.cookie=true")
		}
		e.table.Reset([]*api.Service{service("s1", "web", webLabels(extra...))}, []*api.Task{task("t1", "s1", b.addr())})
		slow := httptest.NewServer(e.proxy)
		defer slow.Close()
		for path := range canned {
			method := "GET"
			if path == "/head" {
				method = "HEAD"
			}
			type answer struct {
				Status           int
				Header, Trailer  http.Header
				TransferEncoding []string
				ContentLength    int64
				Body             string
			}
			var got [2]answer
			for i, addr := range []string{e.addr, slow.Listener.Addr().String()} {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(c, method+" "+path+" HTTP/1.1\r\nHost: h\r\n\r\n")
				br := bufio.NewReader(c)
				var resp *http.Response
				var infos []string
				for resp == nil || resp.StatusCode < 200 {
					if resp, err = http.ReadResponse(br, &http.Request{Method: method}); err != nil {
						t.Fatal(err)
					}
					if resp.StatusCode < 200 {
						infos = append(infos, fmt.Sprint(resp.StatusCode, resp.Header))
					}
				}
				resp.Header["Infos"] = infos
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				resp.Header.Del("Date")
				got[i] = answer{resp.StatusCode, resp.Header, resp.Trailer, resp.TransferEncoding, resp.ContentLength, string(body)}
				c.Close()
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Errorf("sticky=%v %s %s:\nfast path: %+v\nnet/http:  %+v", sticky, method, path, got[0], got[1])
			}
		}
	}
}
