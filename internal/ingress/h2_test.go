package ingress_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// h2Client speaks HTTP/2 only (ALPN h2) to the test's certificate.
func h2Client(t *testing.T, leaf *x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Timeout: testTimeout, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Every kind of route answers over HTTP/2 (h2serve) as it does over
// HTTP/1.1: middlewares (basicauth, stripprefix), sticky cookies,
// bodies, no router (404), a refused router (503), gRPC to an h2c
// backend with its trailers.
func TestHTTP2Routes(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	table, _, secure := webAndWebsecure(t, []tls.Certificate{cert})
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	grpc := startGRPCBackend(t)
	table.Reset([]*api.Service{
		service("s1", "dash", dashLabels("traefik.http.routers.dash.tls=true")),
		service("s2", "app", labels(
			"traefik.http.routers.app.rule=PathPrefix(`/app`)", "traefik.http.routers.app.tls=true",
			"traefik.http.services.app.loadbalancer.server.port=80",
			"traefik.http.services.app.loadbalancer.sticky.cookie=true")),
		service("s3", "grpc", labels(
			"traefik.http.routers.g.rule=PathPrefix(`/echo.Echo`)", "traefik.http.routers.g.tls=true",
			"traefik.http.services.g.loadbalancer.server.port=80",
			"traefik.http.services.g.loadbalancer.server.scheme=h2c")),
		service("s4", "odd", labels(
			"traefik.http.routers.odd.rule=PathPrefix(`/odd`)", "traefik.http.routers.odd.tls=true",
			"traefik.http.routers.odd.middlewares=nope",
			"traefik.http.services.odd.loadbalancer.server.port=80")),
	}, []*api.Task{task("t1", "s1", a.addr()), task("t2", "s2", a.addr()), task("t3", "s2", b.addr()),
		task("t4", "s3", grpc), task("t5", "s4", a.addr())})
	c := h2Client(t, leaf)
	base := "https://" + secure
	big := strings.Repeat("0123456789", 100_000) // 1 MB: past every window
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		check                    func(t *testing.T, resp *http.Response, e echo)
	}{
		{"basicauth refuses", "GET", "/dash/x", "", nil, 401, nil},
		{"basicauth and stripprefix", "GET", "/dash/api/x?q=1", "", []string{"Authorization", basicAuth("admin", "s3cret")}, 200,
			func(t *testing.T, _ *http.Response, e echo) {
				if e.Path != "/api/x" || e.Header.Get("X-Forwarded-Prefix") != "/dash" || e.Header.Get("X-Forwarded-Proto") != "https" {
					t.Errorf("backend got %s prefix %q proto %q", e.Path, e.Header.Get("X-Forwarded-Prefix"), e.Header.Get("X-Forwarded-Proto"))
				}
			}},
		{"post larger than the windows", "POST", "/app/up", big, nil, 200, func(t *testing.T, _ *http.Response, e echo) {
			if e.Body != big || e.Method != "POST" {
				t.Errorf("backend got %d bytes", len(e.Body))
			}
		}},
		{"no router", "GET", "/nothing", "", nil, 404, nil},
		{"refused router", "GET", "/odd", "", nil, 503, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, base+tc.path, body)
			for i := 0; i+1 < len(tc.hdr); i += 2 {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != tc.status {
				t.Fatalf("%s %d %.200s, want %d", resp.Proto, resp.StatusCode, raw, tc.status)
			}
			if tc.check != nil {
				var e echo
				if err := json.Unmarshal(raw, &e); err != nil {
					t.Fatalf("%v: %.200s", err, raw)
				}
				tc.check(t, resp, e)
			}
		})
	}
	t.Run("sticky", func(t *testing.T) {
		c := h2Client(t, leaf) // a jar of its own
		first := ""
		for i := range 6 {
			resp, err := c.Get(base + "/app/s")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			who := resp.Header.Get("X-Backend")
			if i == 0 {
				first = who
				if len(resp.Cookies()) != 1 {
					t.Fatalf("no sticky cookie: %v", resp.Header)
				}
			} else if who != first {
				t.Fatalf("request %d went to %s, pinned to %s", i, who, first)
			}
		}
	})
	t.Run("grpc to h2c", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/echo.Echo/Say", strings.NewReader(grpcFrame(0, "hi")+grpcFrame(0, "there")))
		req.Header.Set("Content-Type", "application/grpc+proto")
		req.Header.Set("Te", "trailers")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != grpcFrame(0, "HI")+grpcFrame(0, "THERE") || resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("X-Done") != "yes" {
			t.Errorf("%d %q trailers %v", resp.StatusCode, got, resp.Trailer)
		}
	})
}

// Shutdown lets an HTTP/2 request in flight finish (GOAWAY first), then
// the connection closes and Shutdown returns.
func TestHTTP2GracefulShutdown(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	table := ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	t.Cleanup(table.Close)
	p := ingress.NewProxy(table, ingress.Options{EntryPoint: ingress.EntryPointWebSecure, ErrorLog: quietLog})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.ServeTLS(ln, &tls.Config{Certificates: []tls.Certificate{cert}}) }()
	started, release := make(chan struct{}), make(chan struct{})
	bk := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	table.Reset([]*api.Service{service("s1", "app", labels("traefik.http.routers.r.rule=PathPrefix(`/`)", "traefik.http.routers.r.tls=true",
		"traefik.http.services.s.loadbalancer.server.port=80"))}, []*api.Task{task("t1", "s1", bk.addr())})
	c := h2Client(t, leaf)
	got := make(chan string, 1)
	go func() {
		resp, err := c.Get("https://" + ln.Addr().String() + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- resp.Proto + " " + string(b)
	}()
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		shut <- p.Shutdown(ctx)
	}()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if g := <-got; g != "HTTP/2.0 finished" {
		t.Errorf("in-flight request: %q", g)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("ServeTLS: %v", err)
	}
}

// A WebSocket route on the TLS entry point: browsers open WebSockets
// over HTTP/1.1 (the ingress offers no extended CONNECT on HTTP/2), and
// that keeps working next to HTTP/2 on the same listener.
func TestWebSocketNextToHTTP2(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	table, _, secure := webAndWebsecure(t, []tls.Certificate{cert})
	ws := startBackend(t, "ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			_, _ = io.WriteString(w, "plain "+r.Proto)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Proto: "+r.Header.Get("X-Forwarded-Proto")+"\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = io.WriteString(brw, "echo: "+line)
		_ = brw.Flush()
	}))
	table.Reset([]*api.Service{service("s1", "chat", labels("traefik.http.routers.r.rule=PathPrefix(`/ws`)", "traefik.http.routers.r.tls=true",
		"traefik.http.services.s.loadbalancer.server.port=80"))}, []*api.Task{task("t1", "s1", ws.addr())})
	if resp, body := fetch(t, h2Client(t, leaf), "https://"+secure+"/ws"); resp.ProtoMajor != 2 || body != "plain HTTP/1.1" {
		t.Errorf("HTTP/2 GET: %s %q", resp.Proto, body)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	conn, err := tls.Dial("tcp", secure, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	resp, br := wsUpgrade(t, conn)
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Proto") != "wss" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	_, _ = io.WriteString(conn, "hello\n")
	if got, err := br.ReadString('\n'); err != nil || got != "echo: hello\n" {
		t.Errorf("echo = %q, %v", got, err)
	}
}
