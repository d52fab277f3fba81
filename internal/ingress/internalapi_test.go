package ingress_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/ui"
)

// internalLabels send two routers to api@internal, as the dockerswarm.rocks
// Traefik stack does: one behind basicauth, one without middlewares (the
// fast path hands it over). No Traefik service of their own: none needed.
func internalLabels() map[string]string {
	return labels(
		"traefik.http.routers.dash.rule=Host(`dash.example`)",
		"traefik.http.routers.dash.service=api@internal",
		"traefik.http.routers.dash.middlewares=admin-auth",
		"traefik.http.middlewares.admin-auth.basicauth.users="+bcryptUser,
		"traefik.http.routers.open.rule=Host(`open.example`)",
		"traefik.http.routers.open.service=API@internal",
	)
}

func internalEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	if _, err := ingress.ParseLabels("traefik", internalLabels()); err != nil {
		t.Fatalf("labels refused: %v", err)
	}
	e.table.Reset([]*api.Service{service("s1", "traefik", internalLabels())}, nil)
	return e
}

// noRedirect is a client of e that shows redirects instead of following them.
func noRedirect(e *env) *http.Client {
	c := e.client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// A router sent to api@internal reaches the dashboard in-process, after
// its middlewares, and the dashboard's login still stands: unauthenticated
// it answers what a browser without a session gets (401), and spoofed
// X-Forwarded-* headers grant nothing; a login URL's token gives the page.
// Actions still need the same origin and the CSRF token.
func TestInternalAPIServesTheDashboardBehindItsLogin(t *testing.T) {
	e := internalEnv(t)
	c, err := client.New("unix:///nonexistent/shoal.sock")
	if err != nil {
		t.Fatal(err)
	}
	// The dashboard's own listener answers only its loopback names;
	// through the ingress the router's rule chose the host.
	dash := ui.New(ui.Config{Client: c, Hosts: []string{"127.0.0.1:1"}, Logger: quietLog})
	e.table.SetInternalAPI(dash.Routed())
	hc := noRedirect(e)

	if r := e.do(hc, http.MethodGet, "/ui/", "", "Host", "dash.example"); r.status != http.StatusUnauthorized ||
		r.header.Get("WWW-Authenticate") != `Basic realm="traefik"` {
		t.Fatalf("no basicauth credentials: %d %q, want the middleware's 401", r.status, r.header.Get("WWW-Authenticate"))
	}
	spoof := []string{"X-Forwarded-For", "127.0.0.1", "X-Forwarded-Host", "127.0.0.1:1", "X-Forwarded-Proto", "https", "X-Real-Ip", "127.0.0.1"}
	for host, auth := range map[string][]string{"dash.example": {"Authorization", basicAuth("admin", "s3cret")}, "open.example": nil} {
		hdr := append(append([]string{"Host", host}, auth...), spoof...)
		r := e.do(hc, http.MethodGet, "/ui/", "", hdr...)
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "not logged in") {
			t.Fatalf("%s without a session: %d %q, want the dashboard's 401", host, r.status, r.body)
		}
		if r := e.do(hc, http.MethodGet, "/", "", hdr...); r.status != http.StatusFound || r.header.Get("Location") != "/ui/" {
			t.Fatalf("%s /: %d to %q, want the dashboard's redirect to /ui/", host, r.status, r.header.Get("Location"))
		}
		if r := e.do(hc, http.MethodGet, "/ui/login?token=guess", "", hdr...); r.status != http.StatusForbidden {
			t.Fatalf("%s login with a wrong token: %d, want 403", host, r.status)
		}
		// A login URL's token, on the routed host.
		r = e.do(hc, http.MethodGet, ui.LoginPath(dash.NewLoginToken()), "", hdr...)
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
			t.Fatalf("%s login: %d to %q, want 303 to /ui/", host, r.status, r.header.Get("Location"))
		}
		var cookie string
		for _, ck := range (&http.Response{Header: r.header}).Cookies() {
			if ck.Name == "shoal_session" {
				cookie = ck.Name + "=" + ck.Value
			}
		}
		if cookie == "" {
			t.Fatalf("%s login set no session cookie: %v", host, r.header)
		}
		withCookie := append(append([]string{}, hdr...), "Cookie", cookie)
		r = e.do(hc, http.MethodGet, "/ui/", "", withCookie...)
		if r.status != http.StatusOK || !strings.Contains(r.body, "<title>shoal</title>") {
			t.Fatalf("%s page with a session: %d %.200q", host, r.status, r.body)
		}
		if r := e.do(hc, http.MethodGet, "/ui/static/app.js", "", withCookie...); r.status != http.StatusOK {
			t.Fatalf("%s script with a session: %d", host, r.status)
		}
		// An action from another origin, or without the CSRF token.
		post := append(append([]string{}, withCookie...), "Origin", "http://evil.example", "Content-Type", "application/json")
		if r := e.do(hc, http.MethodPost, "/ui/api/services/x/scale", `{"replicas":1}`, post...); r.status != http.StatusForbidden {
			t.Fatalf("%s cross-site action: %d %q, want 403", host, r.status, r.body)
		}
		post = append(append([]string{}, withCookie...), "Origin", "http://"+host, "Content-Type", "application/json")
		if r := e.do(hc, http.MethodPost, "/ui/api/services/x/scale", `{"replicas":1}`, post...); r.status != http.StatusForbidden {
			t.Fatalf("%s action without the CSRF token: %d %q, want 403", host, r.status, r.body)
		}
	}
	var listed int
	for _, ri := range e.table.Routes() {
		if ri.LoadBalancer == ingress.InternalAPI && ri.Refused == "" {
			listed++
		}
	}
	if listed != 2 {
		t.Fatalf("routes list %d routers sent to api@internal, want 2: %+v", listed, e.table.Routes())
	}
}

// A node without a dashboard (a worker, a manager without --ui) answers
// 503 saying why, after the router's middlewares.
func TestInternalAPIWithoutDashboardAnswers503(t *testing.T) {
	e := internalEnv(t)
	hc := noRedirect(e)
	if r := e.do(hc, http.MethodGet, "/ui/", "", "Host", "dash.example"); r.status != http.StatusUnauthorized {
		t.Fatalf("no basicauth credentials: %d, want the middleware's 401", r.status)
	}
	for _, hdr := range [][]string{{"Host", "dash.example", "Authorization", basicAuth("admin", "s3cret")}, {"Host", "open.example"}} {
		r := e.do(hc, http.MethodGet, "/ui/", "", hdr...)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "api@internal: this node serves no dashboard (workers don't, nor managers without --ui)") {
			t.Fatalf("%s: %d %q, want 503 naming the reason", hdr[1], r.status, r.body)
		}
	}
	for _, ri := range e.table.Routes() {
		if !strings.Contains(ri.Refused, "this node serves no dashboard") {
			t.Fatalf("routes list %s without saying this node serves no dashboard: %+v", ri.Router, ri)
		}
	}
}

// The dashboard's event stream outlives ReadTimeout (which bounds
// reading the request, not the response).
func TestInternalAPIStreamOutlivesReadTimeout(t *testing.T) {
	const readTimeout = 200 * time.Millisecond
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{ReadTimeout: readTimeout})
	e.table.Reset([]*api.Service{service("s1", "traefik", internalLabels())}, nil)
	e.table.SetInternalAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "first;")
		_ = http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
			fmt.Fprint(w, "cut")
		case <-time.After(3 * readTimeout):
			fmt.Fprint(w, "second")
		}
	}))
	if r := e.get("/ui/api/events", "Host", "open.example"); r.status != http.StatusOK || r.body != "first;second" {
		t.Fatalf("stream: %d %q, want it whole", r.status, r.body)
	}
}
