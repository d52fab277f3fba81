package ingress_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

func TestServiceEventsApplyAtOnce(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a := startBackend(t, "a", nil)
	svc := service("s1", "web", labels("traefik.http.routers.r.rule=PathPrefix(`/old`)", "traefik.http.services.s.loadbalancer.server.port=80"))
	svc.Version = 1
	tk := task("t1", "s1", a.addr())
	// A task may be seen before its service.
	e.table.Apply(taskEvent(api.ActionCreate, tk))
	if r := e.get("/old"); r.status != http.StatusNotFound {
		t.Fatalf("task without service: %d", r.status)
	}
	e.table.Apply(serviceEvent(api.ActionCreate, svc))
	if r := e.get("/old"); r.status != http.StatusOK {
		t.Fatalf("after service create: %d", r.status)
	}

	upd := service("s1", "web", labels("traefik.http.routers.r.rule=PathPrefix(`/new`)", "traefik.http.services.s.loadbalancer.server.port=80"))
	upd.Version = 2
	e.table.Apply(serviceEvent(api.ActionUpdate, upd))
	if r := e.get("/old"); r.status != http.StatusNotFound {
		t.Errorf("old rule after update: %d", r.status)
	}
	if r := e.get("/new"); r.status != http.StatusOK || r.echo.Backend != "a" {
		t.Errorf("new rule after update: %d", r.status)
	}

	// A stale service event (older version) changes nothing.
	e.table.Apply(serviceEvent(api.ActionUpdate, svc))
	if r := e.get("/new"); r.status != http.StatusOK {
		t.Errorf("stale update applied: %d", r.status)
	}

	disabled := service("s1", "web", labels("traefik.enable=false", "traefik.http.routers.r.rule=PathPrefix(`/new`)", "traefik.http.services.s.loadbalancer.server.port=80"))
	disabled.Version = 3
	e.table.Apply(serviceEvent(api.ActionUpdate, disabled))
	if r := e.get("/new"); r.status != http.StatusNotFound {
		t.Errorf("traefik.enable=false: %d", r.status)
	}

	upd.Version = 4
	e.table.Apply(serviceEvent(api.ActionUpdate, upd))
	if r := e.get("/new"); r.status != http.StatusOK {
		t.Errorf("re-enabled: %d", r.status)
	}
	e.table.Apply(api.Event{Type: api.EventService, Action: api.ActionRemove, ID: "s1"})
	if r := e.get("/new"); r.status != http.StatusNotFound {
		t.Errorf("after service remove: %d", r.status)
	}
	if len(e.table.Routes()) != 0 {
		t.Errorf("routes left: %+v", e.table.Routes())
	}
}

func TestTaskEvents(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	e.table.Apply(serviceEvent(api.ActionCreate, service("s1", "web", webLabels())))
	ta, tb := task("ta", "s1", a.addr()), task("tb", "s1", b.addr())
	e.table.Apply(taskEvent(api.ActionCreate, ta), taskEvent(api.ActionCreate, tb))
	if got := backendsOf(e.table); got != "ta,tb" {
		t.Fatalf("backends = %s", got)
	}
	e.table.Apply(api.Event{Type: api.EventTask, Action: api.ActionRemove, ID: "ta"})
	if got := backendsOf(e.table); got != "tb" {
		t.Fatalf("after remove: %s", got)
	}

	// Once desired shutdown, a task never comes back, even from a late
	// event that still shows it running.
	stale := with(tb, func(*api.Task) {})
	e.table.Apply(taskEvent(api.ActionUpdate, with(tb, func(t *api.Task) { t.DesiredState = api.TaskStateShutdown })))
	e.table.Apply(taskEvent(api.ActionUpdate, stale))
	if got := backendsOf(e.table); got != "" {
		t.Fatalf("late event re-added a shut-down task: %s", got)
	}

	// An older version of a live task is ignored.
	tc := task("tc", "s1", a.addr())
	older := with(tc, func(t *api.Task) { t.Status.Health = api.HealthStarting })
	newer := with(tc, func(*api.Task) {})
	e.table.Apply(taskEvent(api.ActionUpdate, newer), taskEvent(api.ActionUpdate, older))
	if got := backendsOf(e.table); got != "tc" {
		t.Fatalf("stale task event applied: %s", got)
	}

	// Endpoint changes are followed.
	moved := with(newer, func(t *api.Task) { t.Endpoints = []api.TaskEndpoint{{TargetPort: 80, Addr: b.addr()}} })
	e.table.Apply(taskEvent(api.ActionUpdate, moved))
	if r := e.get("/"); r.echo.Backend != "b" {
		t.Fatalf("after endpoint change: %q", r.echo.Backend)
	}
}

func TestResetReplacesEverything(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	svc := service("s1", "web", webLabels())
	e.table.Reset([]*api.Service{svc}, []*api.Task{task("ta", "s1", a.addr()), task("tb", "s1", b.addr())})
	e.get("/")
	waitFor(t, "the request to be counted", func() bool { return e.proxy.Stats().Services["web/signup-web"].Requests == 1 })
	e.table.Reset([]*api.Service{svc}, []*api.Task{task("tb", "s1", b.addr()),
		with(task("ta", "s1", a.addr()), func(t *api.Task) { t.DesiredState = api.TaskStateShutdown })})
	if got := backendsOf(e.table); got != "tb" {
		t.Fatalf("backends = %s", got)
	}
	// Counters survive a reset.
	if n := e.proxy.Stats().Services["web/signup-web"].Requests; n != 1 {
		t.Errorf("requests after reset = %d, want 1", n)
	}
	e.table.Reset(nil, nil)
	if r := e.get("/"); r.status != http.StatusNotFound {
		t.Errorf("after empty reset: %d", r.status)
	}
	if len(e.proxy.Stats().Services) != 0 {
		t.Errorf("stats of removed services kept: %+v", e.proxy.Stats().Services)
	}
}

func TestRequireEnable(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{RequireEnable: true}, ingress.Options{})
	a := startBackend(t, "a", nil)
	plain := labels("traefik.http.routers.r.rule=PathPrefix(`/plain`)", "traefik.http.services.s.loadbalancer.server.port=80")
	enabled := labels("traefik.enable=true", "traefik.http.routers.r.rule=PathPrefix(`/on`)", "traefik.http.services.s.loadbalancer.server.port=80")
	e.table.Reset([]*api.Service{service("s1", "plain", plain), service("s2", "on", enabled)},
		[]*api.Task{task("t1", "s1", a.addr()), task("t2", "s2", a.addr())})
	if r := e.get("/plain"); r.status != http.StatusNotFound {
		t.Errorf("exposedByDefault=false routed an unlabelled service: %d", r.status)
	}
	if r := e.get("/on"); r.status != http.StatusOK {
		t.Errorf("traefik.enable=true: %d", r.status)
	}
}

func TestInvalidLabelsRouteNothing(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	a := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{
		service("s1", "bad", labels("traefik.http.routers.r.rule=Host(`a`", "traefik.http.services.s.loadbalancer.server.port=80")),
		service("s2", "good", webLabels()),
	}, []*api.Task{task("t1", "s1", a.addr()), task("t2", "s2", a.addr())})
	routes := e.table.Routes()
	if len(routes) != 1 || routes[0].Service != "good" {
		t.Fatalf("routes = %+v", routes)
	}
}

func backendsOf(tb *ingress.Table) string {
	var ids []string
	for _, r := range tb.Routes() {
		for _, b := range r.Backends {
			ids = append(ids, b.TaskID)
		}
	}
	return strings.Join(ids, ",")
}

func TestInFlightRequestFinishesAfterRemoval(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	release := make(chan struct{})
	entered := make(chan struct{})
	a := startBackend(t, "a", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		_, _ = w.Write([]byte("a"))
	}))
	b := startBackend(t, "b", nil)
	ta := task("ta", "s1", a.addr())
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{ta})
	slow := make(chan result, 1)
	c := e.client()
	go func() {
		r, err := e.doErr(c, "GET", "/slow", "")
		if err != nil {
			t.Error(err)
		}
		slow <- r
	}()
	<-entered
	e.table.Apply(
		taskEvent(api.ActionCreate, task("tb", "s1", b.addr())),
		taskEvent(api.ActionUpdate, with(ta, func(t *api.Task) { t.DesiredState = api.TaskStateShutdown })),
	)
	if r := e.get("/"); r.echo.Backend != "b" {
		t.Fatalf("new request after removal went to %q", r.header.Get("X-Backend"))
	}
	close(release)
	if r := <-slow; r.status != http.StatusOK || r.body != "a" {
		t.Fatalf("in-flight request: %d %q, want 200 from a", r.status, r.body)
	}
}
