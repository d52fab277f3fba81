package ingress_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

func downOf(tb *ingress.Table) string {
	var down []string
	for _, r := range tb.Routes() {
		for _, b := range r.Backends {
			if !b.Healthy {
				down = append(down, b.TaskID)
			}
		}
	}
	return strings.Join(down, ",")
}

func TestActiveHealthCheck(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels(
		"traefik.http.services.signup-web.loadbalancer.healthcheck.path=/health",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.interval=5ms",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.timeout=5s",
	))}, []*api.Task{task("ta", "s1", a.addr()), task("tb", "s1", b.addr())})

	a.healthy.Store(false)
	waitFor(t, "a to fail its check", func() bool { return downOf(e.table) == "ta" })
	c := e.client()
	for i := 0; i < 10; i++ {
		if r := e.do(c, "GET", "/", ""); r.echo.Backend != "b" {
			t.Fatalf("request %d went to %q while a fails its check", i, r.echo.Backend)
		}
	}

	b.healthy.Store(false)
	waitFor(t, "b to fail its check", func() bool { return downOf(e.table) == "ta,tb" })
	if r := e.do(c, "GET", "/", ""); r.status != http.StatusServiceUnavailable {
		t.Fatalf("every backend failing: %d, want 503", r.status)
	}

	a.healthy.Store(true)
	waitFor(t, "a to pass again", func() bool { return downOf(e.table) == "tb" })
	if r := e.do(c, "GET", "/", ""); r.echo.Backend != "a" {
		t.Fatalf("after a passes again: %q", r.echo.Backend)
	}

	// A backend that leaves the pool stops being checked; goleak (in
	// TestMain) and Close verify nothing keeps running.
	e.table.Apply(taskEvent(api.ActionUpdate, with(task("ta", "s1", a.addr()), func(t *api.Task) { t.DesiredState = api.TaskStateShutdown })))
	if got := backendsOf(e.table); got != "tb" {
		t.Fatalf("backends = %s", got)
	}
}

func TestHealthCheckOfUnreachableBackend(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "b", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels(
		"traefik.http.services.signup-web.loadbalancer.healthcheck.path=/health",
		"traefik.http.services.signup-web.loadbalancer.healthcheck.interval=1h",
	))}, []*api.Task{task("ta", "s1", refusedAddr(t)), task("tb", "s1", b.addr())})
	// The first probe runs at once, whatever the interval.
	waitFor(t, "the unreachable backend to be marked down", func() bool { return downOf(e.table) == "ta" })
}
