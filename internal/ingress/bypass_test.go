package ingress_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// An internet client cannot reach a router's task past its basicauth
// through a public router of the same service: not by another spelling
// of the path (dot segments, repeated or encoded slashes, escapes of
// unreserved characters), nor of the host (case, port, trailing dot,
// absolute form), nor by pipelining the protected request behind a
// public one on the fast path, nor over HTTP/1.0 (the net/http path).
func TestProtectedRouterNotReachedByAnotherSpelling(t *testing.T) {
	var mu sync.Mutex
	var hits []string
	b := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.Host+" "+r.RequestURI)
		mu.Unlock()
	}))
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	e.table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.pub.rule=PathPrefix(`/`)",
		"traefik.http.routers.adm.rule=PathPrefix(`/admin`) || Host(`adm.example`)",
		"traefik.http.routers.adm.priority=100",
		"traefik.http.routers.adm.middlewares=auth",
		"traefik.http.middlewares.auth.basicauth.users="+bcryptUser,
		"traefik.http.services.app.loadbalancer.server.port=80",
	))}, []*api.Task{task("t1", "s1", b.addr())})

	paths := []string{"/admin", "/./admin", "//admin", "/%61dmin", "/%2e%2e/admin", "/x/%2e%2e/admin",
		"/x/%2E%2E/admin", "/x/.%2e/admin", "/x/../admin", "/x/./../admin/", "/admin;x", "/admin?x", "/#/../admin", "/admin%00"}
	var reqs []string
	for _, p := range paths {
		reqs = append(reqs, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n", "GET "+p+" HTTP/1.0\r\n\r\n",
			"GET http://x"+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	for _, h := range []string{"adm.example", "ADM.example", "adm.example.", "adm.example:80", "adm.example:", "adm.example:x"} {
		reqs = append(reqs, "GET / HTTP/1.1\r\nHost: "+h+"\r\n\r\n")
	}
	reqs = append(reqs,
		"GET http://adm.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://x@adm.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x/..%2fadmin HTTP/1.1\r\nHost: x\r\n\r\n", // 400: an encoded slash
		"GET /x\\..\\admin HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nHost: adm.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nHost : adm.example\r\n\r\n",
	)
	for _, req := range reqs {
		rc := e.dialRaw()
		rc.send(req)
		if resp, _ := rc.read("GET"); resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d, want 401 (or 400)", strings.SplitN(req, "\r\n", 2)[0], resp.StatusCode)
		}
	}
	// Pipelined behind a public request on one fast-path connection.
	rc := e.dialRaw()
	rc.send("GET /pub HTTP/1.1\r\nHost: x\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\nGET /x/../admin HTTP/1.1\r\nHost: x\r\n\r\n")
	for i, want := range []int{200, 401, 401} {
		if resp, _ := rc.read("GET"); resp.StatusCode != want {
			t.Errorf("pipelined request %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hits) != 1 {
		t.Errorf("the task got %q, want only the public request", hits)
	}
}

// A public PathPrefix(`/api`) and a protected PathPrefix(`/api/admin`)
// sharing stripprefix /api: /apiadmin/users matches the public router,
// and stripping /api mid-segment (as Traefik does) sent the task
// /admin/users without authentication.
func TestStripPrefixDoesNotMakeAProtectedPath(t *testing.T) {
	var mu sync.Mutex
	var got []string
	b := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.RequestURI)
		mu.Unlock()
	}))
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	e.table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.pub.rule=PathPrefix(`/api`)",
		"traefik.http.routers.pub.middlewares=strip",
		"traefik.http.routers.adm.rule=PathPrefix(`/api/admin`)",
		"traefik.http.routers.adm.middlewares=auth,strip",
		"traefik.http.middlewares.auth.basicauth.users="+bcryptUser,
		"traefik.http.middlewares.strip.stripprefix.prefixes=/api",
		"traefik.http.services.app.loadbalancer.server.port=80",
	))}, []*api.Task{task("t1", "s1", b.addr())})
	if r := e.get("/api/admin/users"); r.status != http.StatusUnauthorized {
		t.Fatalf("/api/admin/users: %d, want 401", r.status)
	}
	for _, p := range []string{"/apiadmin/users", "/api../admin/users", "/api/users"} {
		e.get(p)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/apiadmin/users", "/api../admin/users", "/users"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the task got %q, want %q", got, want)
	}
}

// A path or host longer than any real one is refused before routing, on
// both paths: the router rules' regular expressions run in time linear
// in their input times their size, and a 1 MiB Host (a header may be
// that long) against HostRegexp(`[a-z0-9-]{1,63}\.example\.com`) took
// 3 s of CPU per request (a [a-z]{1000}[a-z]{1000}b PathRegexp, a minute).
func TestLongPathOrHostRefusedBeforeRouting(t *testing.T) {
	b := startBackend(t, "a", nil)
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{MaxHeaderBytes: 1 << 20})
	e.table.Reset([]*api.Service{service("s1", "app", labels(
		"traefik.http.routers.r.rule=HostRegexp(`[a-z0-9-]{1,63}\\.example\\.com`) || PathRegexp(`/[a-z]+/[0-9]{1,10}/`)",
		"traefik.http.services.app.loadbalancer.server.port=80",
	))}, []*api.Task{task("t1", "s1", b.addr())})
	long := strings.Repeat("a", ingress.MaxPathBytes)
	host := strings.Repeat("a", ingress.MaxHostBytes-len(".example.com")) + ".example.com"
	for _, tt := range []struct {
		req  string
		want int
	}{
		{"GET /x/1/" + long[len("/x/1/"):] + " HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"GET /x/1/" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"GET /x/1/" + long + " HTTP/1.0\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 200},
		{"GET / HTTP/1.1\r\nHost: a" + host + "\r\n\r\n", 400},
		{"GET / HTTP/1.0\r\nHost: a" + host + "\r\n\r\n", 400},
		{"GET http://a" + host + "/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
	} {
		rc := e.dialRaw()
		rc.send(tt.req)
		if resp, body := rc.read("GET"); resp.StatusCode != tt.want {
			t.Errorf("%.60q…: %d %q, want %d", tt.req, resp.StatusCode, body, tt.want)
		}
	}
}
