package ingress_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// connNamingForwarding is a client's Connection header naming the
// forwarding headers, which would make them hop-by-hop.
const connNamingForwarding = "keep-alive, X-Real-Ip, x-forwarded-prefix, X-Forwarded-Proto, X-Forwarded-Host, " +
	"X-Forwarded-Port, X-Forwarded-Server, X_Forwarded_Uri"

// TestConnectionCannotDropForwardingHeaders: a client's Connection header
// naming X-Real-Ip or another forwarding header does not remove the one
// the ingress or a middleware (stripprefix's X-Forwarded-Prefix) set, on
// either path, with or without middlewares, nor from forwardauth's
// request to the auth server (the client would otherwise reach a backend
// that falls back to the connection's address, the ingress's, as if it
// were the ingress): Traefik's entry points ignore such a Connection
// token (CVE-2024-45410).
func TestConnectionCannotDropForwardingHeaders(t *testing.T) {
	a := startBackend(t, "a", nil)
	var mu sync.Mutex
	var authSaw http.Header
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		authSaw = r.Header.Clone()
		mu.Unlock()
	}))
	defer auth.Close()
	for _, mw := range []string{"", "strip", "strip,auth"} {
		e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
		lbl := webLabels("traefik.http.middlewares.strip.stripprefix.prefixes=/api",
			"traefik.http.middlewares.auth.forwardauth.address="+auth.URL)
		if mw != "" {
			lbl["traefik.http.routers.web.middlewares"] = mw
		}
		e.table.Reset([]*api.Service{service("s1", "web", lbl)}, []*api.Task{task("t1", "s1", a.addr())})
		slow := httptest.NewServer(e.proxy)
		defer slow.Close()
		for _, url := range []string{e.url, slow.URL} {
			e.url = url
			r := e.get("/api/x", "Connection", connNamingForwarding)
			if r.status != http.StatusOK {
				t.Fatalf("middlewares %q %s: status %d %s", mw, url, r.status, r.body)
			}
			want := map[string]string{"X-Real-Ip": "127.0.0.1", "X-Forwarded-Proto": "http"}
			if mw != "" {
				want["X-Forwarded-Prefix"] = "/api"
			}
			for k, v := range want {
				if got := r.echo.Header.Get(k); got != v {
					t.Errorf("middlewares %q %s: backend's %s = %q, want %q", mw, url, k, got, v)
				}
			}
			for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Server"} {
				if r.echo.Header.Get(k) == "" {
					t.Errorf("middlewares %q %s: backend got no %s", mw, url, k)
				}
			}
			if mw == "strip,auth" {
				mu.Lock()
				got := authSaw.Get("X-Real-Ip")
				mu.Unlock()
				if got != "127.0.0.1" {
					t.Errorf("%s: the auth server's X-Real-Ip = %q, want 127.0.0.1", url, got)
				}
			}
		}
	}
}

// TestConnectionCannotDropTrustedForwardingHeaders: a trusted proxy's
// forwarding headers reach the backend even when its Connection header
// names them, as Traefik forwards them, on both paths.
func TestConnectionCannotDropTrustedForwardingHeaders(t *testing.T) {
	a := startBackend(t, "a", nil)
	for _, mw := range []bool{false, true} {
		e := newEnv(t, ingress.TableOptions{}, ingress.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
		lbl := webLabels("traefik.http.middlewares.h.headers.customrequestheaders.X-Mw=1")
		if mw {
			lbl["traefik.http.routers.web.middlewares"] = "h"
		}
		e.table.Reset([]*api.Service{service("s1", "web", lbl)}, []*api.Task{task("t1", "s1", a.addr())})
		slow := httptest.NewServer(e.proxy)
		defer slow.Close()
		for _, url := range []string{e.url, slow.URL} {
			e.url = url
			r := e.get("/", "Connection", "X-Forwarded-Prefix, X-Real-Ip, X-Forwarded-Uri",
				"X-Forwarded-Prefix", "/outer", "X-Real-Ip", "10.1.2.3", "X-Forwarded-Uri", "/outer/")
			want := map[string]string{"X-Forwarded-Prefix": "/outer", "X-Real-Ip": "10.1.2.3", "X-Forwarded-Uri": "/outer/"}
			for k, v := range want {
				if got := r.echo.Header.Get(k); got != v {
					t.Errorf("middlewares=%v %s: backend's %s = %q, want %q", mw, url, k, got, v)
				}
			}
		}
	}
}

// TestConnectionCannotDropMiddlewareHeaders: a client's Connection header
// naming a header a middleware sets (headers' customRequestHeaders,
// basicauth's headerField) removes the client's own, not the
// middleware's, on both paths, as Traefik's entry points remove the
// headers Connection names before the middlewares (CVE-2021-32813);
// Connection's own options (Te: trailers) still work.
func TestConnectionCannotDropMiddlewareHeaders(t *testing.T) {
	a := startBackend(t, "a", nil)
	for _, mw := range []string{"h", "h,auth"} {
		e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
		lbl := webLabels("traefik.http.routers.web.middlewares="+mw,
			"traefik.http.middlewares.h.headers.customrequestheaders.X-Mw=1",
			// user:pass, htpasswd's SHA form.
			"traefik.http.middlewares.auth.basicauth.users=user:{SHA}nU4eI71bcnBGqeO0t9tXvY1u5oQ=",
			"traefik.http.middlewares.auth.basicauth.headerfield=X-Webauth-User",
			"traefik.http.middlewares.auth.basicauth.removeheader=true")
		e.table.Reset([]*api.Service{service("s1", "web", lbl)}, []*api.Task{task("t1", "s1", a.addr())})
		slow := httptest.NewServer(e.proxy)
		defer slow.Close()
		for _, url := range []string{e.url, slow.URL} {
			e.url = url
			r := e.get("/", "Connection", "x-mw, X-Webauth-User, X-Client, Te", "X-Mw", "client", "X-Client", "hop",
				"Te", "trailers", "Authorization", "Basic dXNlcjpwYXNz")
			if r.status != http.StatusOK {
				t.Fatalf("%q %s: status %d %s", mw, url, r.status, r.body)
			}
			want := map[string]string{"X-Mw": "1", "X-Client": "", "Te": "trailers"}
			if mw == "h,auth" {
				want["X-Webauth-User"] = "user"
			}
			for k, v := range want {
				if got := strings.Join(r.echo.Header.Values(k), ","); got != v {
					t.Errorf("%q %s: backend's %s = %q, want %q", mw, url, k, got, v)
				}
			}
		}
	}
}
