package ingress_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// hangBackend is a plain listener standing for a paused or hung task: it
// accepts connections and reads what they send, and never answers, or
// answers only the start of a response (answer) and stalls. It reports
// each connection's request and its close, as the backend sees them.
type hangBackend struct {
	ln     net.Listener
	gotReq chan struct{} // a request head arrived
	closed chan struct{} // a connection was closed by the peer
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func startHangBackend(t *testing.T) *hangBackend { return stallBackend(t, "") }

// stallBackend answers each request with answer (the start of a
// response), then stalls.
func stallBackend(t *testing.T, answer string) *hangBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hangBackend{ln: ln, gotReq: make(chan struct{}, 64), closed: make(chan struct{}, 64)}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						h.closed <- struct{}{}
						return
					}
					if line == "\r\n" {
						if answer != "" {
							_, _ = io.WriteString(c, answer)
						}
						h.gotReq <- struct{}{}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		h.mu.Lock()
		for _, c := range h.conns {
			_ = c.Close()
		}
		h.mu.Unlock()
		h.wg.Wait()
	})
	return h
}

func (h *hangBackend) addr() string { return h.ln.Addr().String() }

// waitEvent waits for one event on ch, failing the test after
// testTimeout.
func waitEvent(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// hungLabels route / to the service; withMiddleware adds a headers
// middleware, which sends the requests down the net/http path.
func hungLabels(withMiddleware bool, extra ...string) map[string]string {
	if withMiddleware {
		extra = append(extra,
			"traefik.http.routers.web.middlewares=h",
			"traefik.http.middlewares.h.headers.customrequestheaders.X-Test=1")
	}
	return webLabels(extra...)
}

var bothPaths = []struct {
	name       string
	middleware bool
}{{"fast-path", false}, {"net-http", true}}

// A client that gives up on a backend that never answers leaves no
// request behind: the backend sees its connection closed at once, long
// before any timeout of the proxy.
func TestClientGoneCancelsBackendRequest(t *testing.T) {
	for _, tc := range bothPaths {
		t.Run(tc.name, func(t *testing.T) {
			// The response-header timeout is far beyond the test's
			// bound: only the client's leaving can close the backend's
			// connection in time.
			e := newEnv(t, ingress.TableOptions{ResponseHeaderTimeout: time.Hour}, ingress.Options{})
			h := startHangBackend(t)
			e.table.Reset([]*api.Service{service("s1", "web", hungLabels(tc.middleware))},
				[]*api.Task{task("hung", "s1", h.addr())})
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: time.Second}
			_, err := c.Get(e.url + "/")
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("GET from a hung backend: %v, want the client's timeout", err)
			}
			waitEvent(t, h.gotReq, "the backend to receive the request")
			waitEvent(t, h.closed, "the backend's connection to close after the client left")
		})
	}
}

// The same with the client's FIN (a half close: it could still read),
// without a response-header timeout at all, and with a request body
// already sent whole; the ingress also closes its side of the client's
// connection (nothing left in CLOSE-WAIT).
func TestClientCloseCancelsBackendRequestWithBody(t *testing.T) {
	for _, tc := range bothPaths {
		// inline: the body comes with the head; streamed: after the
		// backend has the head, so that the proxy copies it while it
		// waits for the answer.
		for _, streamed := range []bool{false, true} {
			name := tc.name + "/inline"
			if streamed {
				name = tc.name + "/streamed"
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, ingress.TableOptions{ResponseHeaderTimeout: -1}, ingress.Options{})
				h := startHangBackend(t)
				e.table.Reset([]*api.Service{service("s1", "web", hungLabels(tc.middleware))},
					[]*api.Task{task("hung", "s1", h.addr())})
				conn, err := net.Dial("tcp", e.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				head, body := "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", "hello"
				if !streamed {
					head, body = head+body, ""
				}
				if _, err := io.WriteString(conn, head); err != nil {
					t.Fatal(err)
				}
				waitEvent(t, h.gotReq, "the backend to receive the request")
				if body != "" {
					if _, err := io.WriteString(conn, body); err != nil {
						t.Fatal(err)
					}
				}
				if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
				waitEvent(t, h.closed, "the backend's connection to close after the client left")
				_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
				rest, err := io.ReadAll(conn)
				if err != nil {
					t.Fatalf("the ingress kept the client's connection open: %v (read %q)", err, rest)
				}
				if bytes.HasPrefix(rest, []byte("HTTP/1.1 2")) {
					t.Fatalf("answered %q", rest)
				}
			})
		}
	}
}

// A backend that never answers is answered 504 after the
// response-header timeout, and counts against it: the next requests go
// to the other task.
func TestResponseHeaderTimeoutEjectsBackend(t *testing.T) {
	for _, tc := range bothPaths {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ingress.TableOptions{ResponseHeaderTimeout: 500 * time.Millisecond, EjectTime: time.Hour}, ingress.Options{})
			h := startHangBackend(t)
			good := startBackend(t, "good", nil)
			e.table.Reset([]*api.Service{service("s1", "web", hungLabels(tc.middleware))},
				[]*api.Task{task("hung", "s1", h.addr()), task("good", "s1", good.addr())})
			c := e.client()
			timedOut := false
			for i := 0; i < 2 && !timedOut; i++ {
				r := e.do(c, "GET", "/", "")
				switch {
				case r.status == http.StatusGatewayTimeout:
					timedOut = true
				case r.echo.Backend != "good":
					t.Fatalf("request %d: %d from %q", i, r.status, r.echo.Backend)
				}
			}
			if !timedOut {
				t.Fatal("no request reached the hung backend in two")
			}
			waitEvent(t, h.closed, "the timed-out backend connection to close")
			for i := 0; i < 6; i++ {
				if r := e.do(c, "GET", "/", ""); r.status != http.StatusOK || r.echo.Backend != "good" {
					t.Fatalf("after the timeout, request %d: %d from %q", i, r.status, r.echo.Backend)
				}
			}
		})
	}
}

// The default response-header timeout applies when none is set.
func TestDefaultResponseHeaderTimeout(t *testing.T) {
	if ingress.DefaultResponseHeaderTimeout <= 0 || ingress.DefaultResponseHeaderTimeout > 5*time.Minute {
		t.Fatalf("DefaultResponseHeaderTimeout = %s", ingress.DefaultResponseHeaderTimeout)
	}
}

// A hung task with an active health check leaves the rotation once the
// check times out; requests then go to the healthy task only.
func TestHungBackendFailsHealthCheck(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{ResponseHeaderTimeout: -1}, ingress.Options{})
	h := startHangBackend(t)
	good := startBackend(t, "good", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels(
		"traefik.http.services.signup-web.loadbalancer.healthcheck.path=/health",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.interval=20ms",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.timeout=100ms",
	))}, []*api.Task{task("hung", "s1", h.addr()), task("good", "s1", good.addr())})
	waitFor(t, "the hung task to fail its check", func() bool { return downOf(e.table) == "hung" })
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	c := e.client()
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_ = resp.Body.Close()
		if resp.Header.Get("X-Backend") != "good" {
			t.Fatalf("request %d went to %q", i, resp.Header.Get("X-Backend"))
		}
	}
}

// A client that leaves while the response body is stalled (an event
// stream between two events) has the backend's connection closed too.
func TestClientGoneDuringStalledBody(t *testing.T) {
	heads := map[string]string{
		"length":  "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst-part",
		"chunked": "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nevent1\r\n",
	}
	for _, tc := range bothPaths {
		for name, head := range heads {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
				h := stallBackend(t, head)
				e.table.Reset([]*api.Service{service("s1", "web", hungLabels(tc.middleware))},
					[]*api.Task{task("stalled", "s1", h.addr())})
				conn, err := net.Dial("tcp", e.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				waitEvent(t, h.gotReq, "the backend to answer the start")
				// net/http's ReverseProxy holds the start of a body
				// with a length until more comes: nothing to read then.
				if !(tc.middleware && name == "length") {
					_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
					resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						t.Fatal(err)
					}
					buf := make([]byte, 5)
					if _, err := io.ReadFull(resp.Body, buf); err != nil {
						t.Fatalf("reading the start of the body: %v", err)
					}
				}
				_ = conn.Close()
				waitEvent(t, h.closed, "the backend's connection to close after the client left")
			})
		}
	}
}
