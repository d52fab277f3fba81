package ingress_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// The errors middleware replaces the body of a response whose status it
// lists with the page of another service (Traefik's example:
// status=500-599, query=/{status}.html), keeping the status; other
// responses pass as they are. Without a task of the page service, the
// answer is the status's text, never the backend's own error body.
func TestErrorsMiddlewareServesAnotherServicesPage(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	app := startBackend(t, "app", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "panic: secret stack trace")
			return
		}
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "fine")
	}))
	var asked []string
	pages := startBackend(t, "pages", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<h1>custom "+strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), ".html")+"</h1>")
	}))
	appSvc := service("s1", "app", labels(
		"traefik.http.routers.app.rule=PathPrefix(`/`)",
		"traefik.http.routers.app.middlewares=oops",
		"traefik.http.middlewares.oops.errors.status=500-599,418",
		"traefik.http.middlewares.oops.errors.service=error-pages@swarm",
		"traefik.http.middlewares.oops.errors.query=/{status}.html",
		"traefik.http.services.app.loadbalancer.server.port=80",
	))
	pagesSvc := service("s2", "pages", labels(
		"traefik.http.routers.error-pages.rule=PathPrefix(`/errors-of-the-cluster`)",
		"traefik.http.services.error-pages.loadbalancer.server.port=80",
	))
	e.table.Reset([]*api.Service{appSvc, pagesSvc}, []*api.Task{task("t1", "s1", app.addr()), task("t2", "s2", pages.addr())})

	if r := e.get("/boom"); r.status != http.StatusBadGateway || r.body != "<h1>custom 502</h1>" || r.header.Get("Content-Type") != "text/html" {
		t.Errorf("/boom: %d %q (%s), want 502 with the custom page", r.status, r.body, r.header.Get("Content-Type"))
	}
	if r := e.get("/missing"); r.status != http.StatusNotFound || !strings.Contains(r.body, "404 page not found") {
		t.Errorf("/missing: %d %q, want the backend's own 404", r.status, r.body)
	}
	if r := e.get("/"); r.status != http.StatusOK || r.body != "fine" {
		t.Errorf("/: %d %q", r.status, r.body)
	}
	if strings.Join(asked, ",") != "/502.html" {
		t.Errorf("pages asked for %v, want /502.html", asked)
	}

	// The page service has no task: the status's text.
	e.table.Reset([]*api.Service{appSvc, pagesSvc}, []*api.Task{task("t1", "s1", app.addr())})
	if r := e.get("/boom"); r.status != http.StatusBadGateway || strings.Contains(r.body, "secret") || !strings.Contains(r.body, "502 Bad Gateway") {
		t.Errorf("/boom without pages: %d %q, want 502 Bad Gateway", r.status, r.body)
	}

	for _, c := range []struct{ label, value, want string }{
		{"status", "5xx", "not a status"},
		{"query", "{status}.html", "not a path"},
		{"service", "pages@file", `provider "file"`},
	} {
		lbl := labels("traefik.http.routers.app.rule=PathPrefix(`/`)", "traefik.http.routers.app.middlewares=oops",
			"traefik.http.middlewares.oops.errors.status=500", "traefik.http.middlewares.oops.errors.service=pages",
			"traefik.http.services.app.loadbalancer.server.port=80")
		lbl["traefik.http.middlewares.oops.errors."+c.label] = c.value
		if err := ingress.ValidateLabels(lbl); err == nil || !strings.Contains(err.Error(), "traefik.http.middlewares.oops.errors."+c.label) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: %v, want %q", c.label, c.value, err, c.want)
		}
	}
}

// statusRewrites (Traefik v3.4+) answers a caught status with another:
// the client gets the new status, the page query's {status} is the new
// one and {originalStatus} the backend's; a caught status no rewrite
// names keeps its code, and a status not caught is never rewritten.
func TestErrorsMiddlewareStatusRewrites(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	app := startBackend(t, "app", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "backend body")
	}))
	var mu sync.Mutex
	var asked []string
	pages := startBackend(t, "pages", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.RequestURI())
		mu.Unlock()
		_, _ = io.WriteString(w, "page "+r.URL.RequestURI())
	}))
	appSvc := service("s1", "app", labels(
		"traefik.http.routers.app.rule=PathPrefix(`/`)",
		"traefik.http.routers.app.middlewares=oops",
		"traefik.http.middlewares.oops.errors.status=500,501,503,505-599,418",
		"traefik.http.middlewares.oops.errors.statusRewrites.418=404",
		"traefik.http.middlewares.oops.errors.statusRewrites.502-504=500",
		"traefik.http.middlewares.oops.errors.service=error-pages",
		"traefik.http.middlewares.oops.errors.query=/{status}.html?was={originalStatus}",
		"traefik.http.services.app.loadbalancer.server.port=80",
	))
	pagesSvc := service("s2", "pages", labels(
		"traefik.http.routers.error-pages.rule=PathPrefix(`/errors-of-the-cluster`)",
		"traefik.http.services.error-pages.loadbalancer.server.port=80",
	))
	e.table.Reset([]*api.Service{appSvc, pagesSvc}, []*api.Task{task("t1", "s1", app.addr()), task("t2", "s2", pages.addr())})

	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/418", 404, "page /404.html?was=418"},
		{"/503", 500, "page /500.html?was=503"},
		{"/500", 500, "page /500.html?was=500"},
		{"/550", 550, "page /550.html?was=550"},
		{"/502", 502, "backend body"}, // not caught: no rewrite either
		{"/200", 200, "backend body"},
	} {
		if r := e.get(c.path); r.status != c.status || r.body != c.body {
			t.Errorf("%s: %d %q, want %d %q", c.path, r.status, r.body, c.status, c.body)
		}
	}

	// Without the page service's task, the new status's text.
	e.table.Reset([]*api.Service{appSvc, pagesSvc}, []*api.Task{task("t1", "s1", app.addr())})
	if r := e.get("/418"); r.status != http.StatusNotFound || !strings.Contains(r.body, "404 Not Found") {
		t.Errorf("/418 without pages: %d %q, want 404 Not Found", r.status, r.body)
	}

	for _, c := range []struct{ key, value, want string }{
		{"statusRewrites.4xx", "404", "not a status"},
		{"statusRewrites.418", "teapot", "not a status"},
		{"statusRewrites.418", "600", "not a status"},
		// A 1xx is informational: the client would get it, then a 200
		// with the error text (a 500 turned into a success).
		{"statusRewrites.418", "103", "not a status"},
		{"statusRewrites.418", "199", "not a status"},
		{"statusRewrites.599-500", "500", "not a status"},
		{"statusRewrites.500-510", "500", "overlaps the rewrite of"},
	} {
		lbl := labels("traefik.http.routers.app.rule=PathPrefix(`/`)", "traefik.http.routers.app.middlewares=oops",
			"traefik.http.middlewares.oops.errors.status=500", "traefik.http.middlewares.oops.errors.service=pages",
			"traefik.http.middlewares.oops.errors.statusRewrites.505=500",
			"traefik.http.services.app.loadbalancer.server.port=80")
		lbl["traefik.http.middlewares.oops.errors."+c.key] = c.value
		// Labels are read in sorted order: an overlap is reported at
		// the later of the two.
		if err := ingress.ValidateLabels(lbl); err == nil || !strings.Contains(err.Error(), "traefik.http.middlewares.oops.errors.statusRewrites.") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: %v, want %q", c.key, c.value, err, c.want)
		}
	}
}
