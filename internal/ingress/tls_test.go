package ingress_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/testutil"
)

// webAndWebsecure serves one table on both entry points: web (Serve) and
// websecure (ServeTLS with certs).
func webAndWebsecure(t *testing.T, certs []tls.Certificate) (table *ingress.Table, plain, secure string) {
	t.Helper()
	table = ingress.NewTable(ingress.TableOptions{Logger: quietLog})
	var stops []func()
	for _, ep := range []string{ingress.EntryPointWeb, ingress.EntryPointWebSecure} {
		p := ingress.NewProxy(table, ingress.Options{EntryPoint: ep, ErrorLog: quietLog})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if ep == ingress.EntryPointWeb {
			plain = ln.Addr().String()
			go func() { done <- p.Serve(ln) }()
		} else {
			secure = ln.Addr().String()
			go func() { done <- p.ServeTLS(ln, &tls.Config{Certificates: certs, MinVersion: tls.VersionTLS12}) }()
		}
		stops = append(stops, func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			_ = p.Shutdown(ctx)
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("serve %s: %v", ep, err)
			}
		})
	}
	t.Cleanup(func() {
		for _, stop := range stops {
			stop()
		}
		table.Close()
	})
	return table, plain, secure
}

func httpsClient(t *testing.T, roots ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// As Traefik: a router with tls=true takes only HTTPS requests, one
// without only plain HTTP ones; HTTPS is offered with HTTP/2.
func TestTLSRoutersTakeOnlyHTTPS(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	table, plain, secure := webAndWebsecure(t, []tls.Certificate{cert})
	b := startBackend(t, "a", nil)
	table.Reset([]*api.Service{
		service("s1", "secure", labels("traefik.http.routers.s.rule=PathPrefix(`/secure`)", "traefik.http.routers.s.tls=true",
			"traefik.http.services.s.loadbalancer.server.port=80")),
		service("s2", "plain", labels("traefik.http.routers.p.rule=PathPrefix(`/plain`)",
			"traefik.http.services.p.loadbalancer.server.port=80")),
	}, []*api.Task{task("t1", "s1", b.addr()), task("t2", "s2", b.addr())})
	c := httpsClient(t, leaf)
	resp, body := fetch(t, c, "https://"+secure+"/secure/x")
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !strings.Contains(body, `"X-Forwarded-Proto":["https"]`) {
		t.Errorf("TLS router over HTTPS: %s %d %s", resp.Proto, resp.StatusCode, body)
	}
	if resp, _ := fetch(t, c, "https://"+secure+"/plain/x"); resp.StatusCode != 404 {
		t.Errorf("plain router over HTTPS: %d, want 404", resp.StatusCode)
	}
	if resp, _ := fetch(t, c, "http://"+plain+"/secure/x"); resp.StatusCode != 404 {
		t.Errorf("TLS router over plain HTTP: %d, want 404", resp.StatusCode)
	}
	if resp, _ := fetch(t, c, "http://"+plain+"/plain/x"); resp.StatusCode != 200 {
		t.Errorf("plain router over plain HTTP: %d", resp.StatusCode)
	}
}

// The certificate is chosen by SNI among the node's.
func TestTLSCertificateBySNI(t *testing.T) {
	certA, leafA := testutil.SelfSignedCert(t, "a.example")
	certB, leafB := testutil.SelfSignedCert(t, "b.example")
	table, _, secure := webAndWebsecure(t, []tls.Certificate{certA, certB})
	b := startBackend(t, "a", nil)
	table.Reset([]*api.Service{service("s1", "app", labels("traefik.http.routers.r.rule=PathPrefix(`/`)",
		"traefik.http.routers.r.tls.domains[0].main=a.example", "traefik.http.services.s.loadbalancer.server.port=80"))},
		[]*api.Task{task("t1", "s1", b.addr())})
	for name, want := range map[string]*x509.Certificate{"a.example": leafA, "b.example": leafB} {
		c := httpsClient(t, leafA, leafB)
		c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, secure)
		}
		resp, err := c.Get("https://" + name + "/")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if got := resp.TLS.PeerCertificates[0]; !got.Equal(want) || resp.StatusCode != 200 {
			t.Errorf("%s: served %v with status %d", name, got.DNSNames, resp.StatusCode)
		}
	}
}

// redirectscheme sends plain HTTP to HTTPS, where the TLS router serves.
func TestRedirectSchemeToHTTPS(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	table, plain, secure := webAndWebsecure(t, []tls.Certificate{cert})
	_, port, _ := net.SplitHostPort(secure)
	b := startBackend(t, "a", nil)
	table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.app-http.rule=PathPrefix(`/`)",
		"traefik.http.routers.app-http.entrypoints=web",
		"traefik.http.routers.app-http.middlewares=https-redirect",
		"traefik.http.middlewares.https-redirect.redirectscheme.scheme=https",
		"traefik.http.middlewares.https-redirect.redirectscheme.port="+port,
		"traefik.http.middlewares.https-redirect.redirectscheme.permanent=true",
		"traefik.http.routers.app-https.rule=PathPrefix(`/`)",
		"traefik.http.routers.app-https.entrypoints=websecure",
		"traefik.http.routers.app-https.tls=true",
		"traefik.http.services.app.loadbalancer.server.port=80",
	))}, []*api.Task{task("t1", "s1", b.addr())})
	c := httpsClient(t, leaf)
	resp, _ := fetch(t, c, "http://"+plain+"/x?y=1")
	if want := "https://127.0.0.1:" + port + "/x?y=1"; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Fatalf("plain request: %d Location %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if b.hits.Load() != 0 {
		t.Errorf("the redirected request reached the task")
	}
	resp, body := fetch(t, c, resp.Header.Get("Location"))
	if resp.StatusCode != 200 || !strings.Contains(body, `"Path":"/x"`) {
		t.Errorf("after the redirect: %d %s", resp.StatusCode, body)
	}
}

// HTTP/1.1 over TLS is served by the fast path (which keeps the
// backend's status text, where net/http's server writes its own), with
// the scheme https in X-Forwarded-*; a request the fast path hands over
// (a router with middlewares) keeps its TLS state on net/http, so that
// the TLS router still matches it; HTTP/2 is still offered.
func TestServeTLSHTTP1OnTheFastPath(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	table, _, secure := webAndWebsecure(t, []tls.Certificate{cert})
	got := make(chan string, 8)
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			req, _, err := readRequest(br)
			if err != nil {
				return
			}
			got <- req.Header.Get("X-Forwarded-Proto") + " " + req.Header.Get("X-Forwarded-Port") + " " + req.Header.Get("X-Mw")
			io.WriteString(c, "HTTP/1.1 200 Fine Thanks\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.s.rule=PathPrefix(`/fast`)", "traefik.http.routers.s.tls=true",
		"traefik.http.routers.m.rule=PathPrefix(`/mw`)", "traefik.http.routers.m.tls=true",
		"traefik.http.routers.m.middlewares=h",
		"traefik.http.middlewares.h.headers.customrequestheaders.X-Mw=yes",
		"traefik.http.middlewares.h.headers.customresponseheaders.X-Resp=1", // net/http's
		"traefik.http.services.s.loadbalancer.server.port=80"))},
		[]*api.Task{task("t1", "s1", b.addr())})
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: testTimeout}
	_, port, _ := net.SplitHostPort(secure)
	for _, tc := range []struct{ path, status, backend string }{
		{"/fast", "200 Fine Thanks", "https " + port + " "},
		{"/fast", "200 Fine Thanks", "https " + port + " "}, // kept alive
		{"/mw", "200 OK", "https " + port + " yes"},
	} {
		resp, body := fetch(t, c, "https://"+secure+tc.path)
		if resp.Status != tc.status || resp.ProtoMajor != 1 || body != "ok" {
			t.Errorf("%s: %s %s %q, want %s", tc.path, resp.Proto, resp.Status, body, tc.status)
		}
		if g := <-got; g != tc.backend {
			t.Errorf("%s: backend got %q, want %q", tc.path, g, tc.backend)
		}
	}
	h2, _ := fetch(t, httpsClient(t, leaf), "https://"+secure+"/mw")
	if h2.ProtoMajor != 2 || h2.StatusCode != 200 || <-got != "https "+port+" yes" {
		t.Errorf("HTTP/2: %s %d", h2.Proto, h2.StatusCode)
	}
}

// HTTP/2 requests without a body reach the backend over the fast path's
// raw keep-alive connections (rawtrip.go), reused from one request to
// the next.
func TestHTTP2UsesRawBackendConnections(t *testing.T) {
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	table, _, secure := webAndWebsecure(t, []tls.Certificate{cert})
	b := startBackend(t, "a", nil)
	table.Reset([]*api.Service{service("s1", "app", labels("traefik.http.routers.r.rule=PathPrefix(`/`)", "traefik.http.routers.r.tls=true",
		"traefik.http.services.s.loadbalancer.server.port=80"))}, []*api.Task{task("t1", "s1", b.addr())})
	c := httpsClient(t, leaf)
	for i := 0; i < 3; i++ {
		resp, body := fetch(t, c, "https://"+secure+"/x")
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.Contains(body, `"Path":"/x"`) {
			t.Fatalf("request %d: %s %d %s", i, resp.Proto, resp.StatusCode, body)
		}
		if alive, total := ingress.IdleConnsAlive(table); alive != 1 || total != 1 {
			t.Fatalf("request %d: %d idle raw backend connections (%d alive), want 1", i, total, alive)
		}
	}
}
