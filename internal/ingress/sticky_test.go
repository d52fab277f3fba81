package ingress_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// stickyEnv serves the seed story's sticky signup-web on two backends.
func stickyEnv(t *testing.T, extra ...string) (*env, *backend, *backend) {
	t.Helper()
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	lbl := webLabels(append([]string{"traefik.http.services.signup-web.loadbalancer.sticky.cookie=true"}, extra...)...)
	e.table.Reset([]*api.Service{service("s1", "signup_signup-web", lbl)},
		[]*api.Task{task("ta", "s1", a.addr()), task("tb", "s1", b.addr())})
	return e, a, b
}

func (e *env) jarClient() *http.Client {
	c := e.client()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Jar = jar
	return c
}

func TestStickySessionKeepsItsBackend(t *testing.T) {
	e, _, _ := stickyEnv(t)
	c := e.jarClient()
	first := e.do(c, "GET", "/app/", "")
	if first.status != http.StatusOK {
		t.Fatalf("status %d", first.status)
	}
	setCookie := first.header.Get("Set-Cookie")
	if !strings.HasPrefix(setCookie, "_461b3=") {
		t.Fatalf("first response Set-Cookie = %q, want Traefik's default name _461b3", setCookie)
	}
	pinned := first.echo.Backend
	for i := 0; i < 100; i++ {
		g := e.do(c, "GET", "/app/form?i="+itoa(i), "")
		p := e.do(c, "POST", "/app/form", "name=n"+itoa(i))
		if g.echo.Backend != pinned || p.echo.Backend != pinned {
			t.Fatalf("pair %d went to %q and %q, want %q", i, g.echo.Backend, p.echo.Backend, pinned)
		}
		if p.echo.Body != "name=n"+itoa(i) {
			t.Fatalf("POST body = %q", p.echo.Body)
		}
		if g.header.Get("Set-Cookie") != "" || p.header.Get("Set-Cookie") != "" {
			t.Fatalf("pair %d: a request with a valid cookie got a new one", i)
		}
	}
}

func TestStickySessionsSpreadOverBackends(t *testing.T) {
	e, a, b := stickyEnv(t)
	var sessions counter
	for i := 0; i < 20; i++ {
		c := e.jarClient()
		first := e.do(c, "GET", "/app/", "").echo.Backend
		sessions.add(first)
		for j := 0; j < 3; j++ {
			if got := e.do(c, "GET", "/app/", "").echo.Backend; got != first {
				t.Fatalf("client %d moved from %s to %s", i, first, got)
			}
		}
	}
	if sessions.get("a") == 0 || sessions.get("b") == 0 {
		t.Errorf("sessions: a %d, b %d; want both backends to get some", sessions.get("a"), sessions.get("b"))
	}
	if a.hits.Load()+b.hits.Load() != 80 {
		t.Errorf("hits %d + %d, want 80", a.hits.Load(), b.hits.Load())
	}
}

func TestStaleStickyCookieIsRepinned(t *testing.T) {
	e, _, _ := stickyEnv(t)
	c := e.jarClient()
	first := e.do(c, "GET", "/app/", "")
	other, gone := "b", "ta"
	if first.echo.Backend == "b" {
		other, gone = "a", "tb"
	}
	oldCookie := cookieValue(c, e.url, "_461b3")

	// The pinned task is shut down (desired state first, as the
	// orchestrator does); the other stays.
	e.table.Apply(taskEvent(api.ActionUpdate, with(task(gone, "s1", "x"), func(t *api.Task) { t.DesiredState = api.TaskStateShutdown })))

	r := e.do(c, "POST", "/app/form", "after")
	if r.status != http.StatusOK || r.echo.Backend != other || r.echo.Body != "after" {
		t.Fatalf("after removal: %d from %q body %q, want 200 from %s", r.status, r.echo.Backend, r.echo.Body, other)
	}
	newCookie := cookieValue(c, e.url, "_461b3")
	if newCookie == "" || newCookie == oldCookie {
		t.Fatalf("cookie %q → %q: want a new cookie naming %s", oldCookie, newCookie, other)
	}
	for i := 0; i < 10; i++ {
		if got := e.do(c, "GET", "/app/", "").echo.Backend; got != other {
			t.Fatalf("re-pinned session went to %s", got)
		}
	}

	// A forged or garbage cookie is treated the same way.
	req, _ := http.NewRequest("GET", e.url+"/app/", nil)
	req.AddCookie(&http.Cookie{Name: "_461b3", Value: "10.0.0.1:80"})
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "_461b3=") {
		t.Errorf("garbage cookie: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
}

func TestStickyCookieAttributesAndValue(t *testing.T) {
	e, a, b := stickyEnv(t,
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie.name=sid",
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie.secure=true",
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie.httponly=true",
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie.samesite=strict",
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie.maxage=600",
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie.path=/app",
	)
	r := e.get("/app/")
	resp := http.Response{Header: http.Header{"Set-Cookie": r.header.Values("Set-Cookie")}}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Set-Cookie = %q", r.header.Values("Set-Cookie"))
	}
	ck := cookies[0]
	if ck.Name != "sid" || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != 600 || ck.Path != "/app" {
		t.Errorf("cookie = %+v", ck)
	}
	// The value is an opaque hash: neither the address nor the task ID.
	for _, leak := range []string{a.addr(), b.addr(), "127.0.0.1", "ta", "tb"} {
		if strings.Contains(ck.Value, leak) {
			t.Errorf("cookie value %q reveals %q", ck.Value, leak)
		}
	}
}

func TestStickyCookieSurvivesLabelChange(t *testing.T) {
	e, _, _ := stickyEnv(t)
	c := e.jarClient()
	pinned := e.do(c, "GET", "/app/", "").echo.Backend
	// A change of the load balancer (here: a health check) rebuilds its
	// backends; cookies name tasks, so sessions stay where they were.
	svc := service("s1", "signup_signup-web", webLabels(
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie=true",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.path=/health",
	))
	svc.Version = 2
	e.table.Apply(serviceEvent(api.ActionUpdate, svc))
	for i := 0; i < 10; i++ {
		if got := e.do(c, "GET", "/app/", "").echo.Backend; got != pinned {
			t.Fatalf("after a label change the session moved from %s to %s", pinned, got)
		}
	}
}

func cookieValue(c *http.Client, base, name string) string {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}
