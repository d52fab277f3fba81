package ingress_test

import (
	"io"
	"net/http"
	"strings"
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
