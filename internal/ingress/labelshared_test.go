package ingress_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// traefikService defines middlewares for the others, as the Traefik
// service of the dockerswarm.rocks stacks does; it routes nothing
// itself but its own dashboard.
func traefikService(extra ...string) *api.Service {
	return service("s0", "traefik_traefik", labels(append([]string{
		"traefik.http.routers.api.rule=PathPrefix(`/api`)",
		"traefik.http.services.api.loadbalancer.server.port=80",
		"traefik.http.middlewares.admin-auth.basicauth.users=" + bcryptUser,
	}, extra...)...))
}

// A router may name a middleware another service's labels define, with
// or without @swarm, as in Traefik; it follows the definition as it
// changes, answers 503 naming it while no service (or two that disagree)
// defines it, and a router's own definition wins over another's.
func TestMiddlewaresSharedAcrossServices(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "a", nil)
	swarmpit := service("s1", "swarmpit_app", labels(
		"traefik.http.routers.swarmpit.rule=PathPrefix(`/swarmpit`)",
		"traefik.http.routers.swarmpit.middlewares=admin-auth@swarm",
		"traefik.http.services.swarmpit.loadbalancer.server.port=80",
	))
	grafana := service("s2", "swarmprom_grafana", labels(
		"traefik.http.routers.grafana.rule=PathPrefix(`/grafana`)",
		"traefik.http.routers.grafana.middlewares=admin-auth",
		"traefik.http.services.grafana.loadbalancer.server.port=80",
	))
	// The users of the middleware come before its definer.
	e.table.Reset([]*api.Service{swarmpit, grafana, traefikService()},
		[]*api.Task{task("t1", "s1", b.addr()), task("t2", "s2", b.addr()), task("t0", "s0", b.addr())})
	for _, p := range []string{"/swarmpit/", "/grafana/"} {
		if r := e.get(p); r.status != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", p, r.status)
		}
		if r := e.get(p, "Authorization", basicAuth("admin", "s3cret")); r.status != http.StatusOK {
			t.Errorf("%s with credentials: %d %q, want 200", p, r.status, r.body)
		}
	}
	status := func(p string) (int, string) {
		r := e.get(p, "Authorization", basicAuth("admin", "s3cret"))
		return r.status, r.body
	}

	// The definer drops it: the users fail closed, naming it.
	noAuth := traefikService()
	delete(noAuth.Spec.Labels, "traefik.http.middlewares.admin-auth.basicauth.users")
	noAuth.Spec.Labels["traefik.http.middlewares.other.stripprefix.prefixes"] = "/x"
	noAuth.SpecVersion, noAuth.Version = 2, 2
	e.table.Apply(serviceEvent(api.ActionUpdate, noAuth))
	if code, body := status("/swarmpit/"); code != http.StatusServiceUnavailable || !strings.Contains(body, `middleware "admin-auth@swarm" is not defined`) {
		t.Errorf("definer gone: %d %q, want 503 naming the middleware", code, body)
	}
	// It comes back.
	back := traefikService()
	back.SpecVersion, back.Version = 3, 3
	e.table.Apply(serviceEvent(api.ActionUpdate, back))
	if code, _ := status("/swarmpit/"); code != http.StatusOK {
		t.Errorf("definer back: %d, want 200", code)
	}
	// A second definer that disagrees: refused, as Traefik drops it.
	other := service("s3", "other", labels("traefik.http.middlewares.admin-auth.basicauth.users=x:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="))
	e.table.Apply(serviceEvent(api.ActionCreate, other))
	if code, body := status("/grafana/"); code != http.StatusServiceUnavailable || !strings.Contains(body, "defined differently") {
		t.Errorf("two definitions: %d %q, want 503", code, body)
	}
	e.table.Apply(serviceEvent(api.ActionRemove, other))
	if code, _ := status("/grafana/"); code != http.StatusOK {
		t.Errorf("second definer removed: %d, want 200", code)
	}
	// The definer removed: 503.
	e.table.Apply(serviceEvent(api.ActionRemove, back))
	if code, _ := status("/grafana/"); code != http.StatusServiceUnavailable {
		t.Errorf("definer removed: %d, want 503", code)
	}
}

// The managers check a middleware a service does not define against the
// others (OthersOf); where they are unknown (nil) it is taken to be
// another's. A provider other than swarm/docker stays refused.
func TestValidateSharedMiddleware(t *testing.T) {
	spec := &service("s1", "app", labels(
		"traefik.http.routers.app.rule=PathPrefix(`/`)",
		"traefik.http.routers.app.middlewares=admin-auth",
		"traefik.http.services.app.loadbalancer.server.port=80",
	)).Spec
	tr := &traefikService().Spec
	if err := ingress.ValidateService(spec, ingress.OthersOf([]*api.ServiceSpec{spec, tr}, spec.Name)); err != nil {
		t.Errorf("defined by another service: %v", err)
	}
	if err := ingress.ValidateService(spec, ingress.OthersOf([]*api.ServiceSpec{spec}, spec.Name)); err == nil ||
		!strings.Contains(err.Error(), `middleware "admin-auth" is not defined by traefik.http.middlewares.admin-auth.* labels of this service nor of another service`) {
		t.Errorf("defined by none: %v", err)
	}
	if err := ingress.ValidateService(spec, nil); err != nil {
		t.Errorf("others unknown: %v", err)
	}
	spec.Labels["traefik.http.routers.app.middlewares"] = "admin-auth@file"
	if err := ingress.ValidateService(spec, nil); err == nil || !strings.Contains(err.Error(), `provider "file"`) {
		t.Errorf("@file: %v", err)
	}
}

// A router's instance of another service's middleware keeps its state
// through its own service's spec updates that leave its labels (as its
// own middlewares do): a rate limit's burst is not given again.
func TestSharedMiddlewareStateSurvivesSpecUpdates(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "a", nil)
	definer := service("s0", "limits", labels("traefik.http.middlewares.once.ratelimit.average=1",
		"traefik.http.middlewares.once.ratelimit.period=1h"))
	user := service("s1", "app", labels(
		"traefik.http.routers.app.rule=PathPrefix(`/`)",
		"traefik.http.routers.app.middlewares=once",
		"traefik.http.services.app.loadbalancer.server.port=80",
	))
	e.table.Reset([]*api.Service{definer, user}, []*api.Task{task("t1", "s1", b.addr())})
	if r := e.get("/"); r.status != http.StatusOK {
		t.Fatalf("first request: %d", r.status)
	}
	scaled := service("s1", "app", user.Spec.Labels)
	scaled.SpecVersion, scaled.Version = 2, 2
	scaled.Spec.Mode = api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 3}}
	e.table.Apply(serviceEvent(api.ActionUpdate, scaled))
	if r := e.get("/"); r.status != http.StatusTooManyRequests {
		t.Errorf("after a scale: %d, want 429 (the limit's state kept)", r.status)
	}
}
