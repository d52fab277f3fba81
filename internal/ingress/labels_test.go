package ingress_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ingress"
)

func TestParseLabelsSeedStory(t *testing.T) {
	routes, err := ingress.ParseLabels("signup_signup-web", labels(
		"traefik.enable=true",
		"traefik.http.routers.web.rule=PathPrefix(`/app/`)",
		"traefik.http.services.signup-web.loadbalancer.server.port=80",
		"traefik.http.services.signup-web.loadbalancer.sticky.cookie=true",
		"com.docker.stack.namespace=signup",
	))
	if err != nil {
		t.Fatal(err)
	}
	if routes.Enable == nil || !*routes.Enable || !routes.Exposed(false) {
		t.Errorf("Enable = %v, want true", routes.Enable)
	}
	if len(routes.Routers) != 1 || len(routes.Services) != 1 {
		t.Fatalf("routers %d, services %d; want 1 and 1", len(routes.Routers), len(routes.Services))
	}
	r, s := routes.Routers[0], routes.Services[0]
	if r.Name != "web" || r.Rule.String() != "PathPrefix(`/app/`)" || r.Service != "signup-web" {
		t.Errorf("router = %+v", r)
	}
	if r.Priority != len("PathPrefix(`/app/`)") {
		t.Errorf("priority = %d, want the rule's length %d", r.Priority, len("PathPrefix(`/app/`)"))
	}
	want := ingress.LoadBalancer{
		Name: "signup-web", QualifiedName: "signup-web@swarm", Port: 80, Scheme: "http", PassHostHeader: true,
		Sticky: &ingress.StickyCookie{Name: "_461b3", Path: "/"},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("service = %+v (sticky %+v), want %+v (sticky %+v)", s, s.Sticky, want, want.Sticky)
	}
}

func TestParseLabelsCaseInsensitiveKeys(t *testing.T) {
	routes, err := ingress.ParseLabels("api", labels(
		"Traefik.Enable=TRUE",
		"TRAEFIK.HTTP.ROUTERS.Api.RULE=Host(`api.example.com`)",
		"traefik.http.routers.api.Priority=7",
		"traefik.http.routers.API.EntryPoints=Web, ",
		"traefik.HTTP.Services.Backend.LoadBalancer.Server.Port=8080",
		"traefik.http.services.backend.loadbalancer.Sticky.Cookie.Name=sid",
		"traefik.http.services.BACKEND.loadbalancer.sticky.cookie.HTTPOnly=true",
		"traefik.http.services.backend.loadBalancer.sticky.cookie.sameSite=Lax",
		"traefik.http.services.backend.loadbalancer.sticky.cookie.maxAge=3600",
		"traefik.http.services.backend.loadbalancer.sticky.cookie.secure=true",
		"traefik.http.services.backend.loadbalancer.sticky.cookie.path=/app",
		"traefik.http.services.backend.loadbalancer.passHostHeader=false",
		"traefik.http.services.backend.loadbalancer.server.scheme=HTTPS",
		"traefik.http.services.backend.loadbalancer.healthCheck.path=/healthz",
		"traefik.http.services.backend.loadbalancer.healthcheck.Interval=10",
		"traefik.http.services.backend.loadbalancer.healthcheck.timeout=2s",
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(routes.Routers) != 1 {
		t.Fatalf("routers = %+v, want one (names are case-insensitive)", routes.Routers)
	}
	r := routes.Routers[0]
	// The first spelling in sorted key order (byte order, so upper case
	// first) names it: TRAEFIK.HTTP.ROUTERS.Api.RULE sorts before the rest.
	if r.Name != "Api" || r.Priority != 7 || r.Service != "Backend" || !reflect.DeepEqual(r.EntryPoints, []string{"Web"}) {
		t.Errorf("router = %+v", r)
	}
	if len(routes.Services) != 1 {
		t.Fatalf("services = %+v, want one", routes.Services)
	}
	s := routes.Services[0]
	want := ingress.LoadBalancer{
		Name: "Backend", QualifiedName: "Backend@swarm", Port: 8080, Scheme: "https", PassHostHeader: false,
		Sticky:      &ingress.StickyCookie{Name: "sid", Secure: true, HTTPOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 3600, Path: "/app"},
		HealthCheck: &ingress.HealthCheck{Path: "/healthz", Interval: 10 * time.Second, Timeout: 2 * time.Second},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("service = %+v\n sticky %+v hc %+v\nwant %+v\n sticky %+v hc %+v", s, s.Sticky, s.HealthCheck, want, want.Sticky, want.HealthCheck)
	}
}

func TestParseLabelsDefaults(t *testing.T) {
	routes, err := ingress.ParseLabels("shop", labels(
		"traefik.http.routers.shop.rule=Host(`shop.example.com`) && PathPrefix(`/cart`)",
		"traefik.http.services.shop.loadbalancer.server.port=3000",
		"traefik.http.services.shop.loadbalancer.healthcheck.path=/ping",
		"traefik.http.services.shop.loadbalancer.sticky.cookie.secure=true",
	))
	if err != nil {
		t.Fatal(err)
	}
	if routes.Enable != nil || !routes.Exposed(true) || routes.Exposed(false) {
		t.Errorf("without traefik.enable, Exposed must follow exposedByDefault")
	}
	r := routes.Routers[0]
	if r.Priority != len("Host(`shop.example.com`) && PathPrefix(`/cart`)") {
		t.Errorf("priority = %d", r.Priority)
	}
	if r.Service != "shop" || r.EntryPoints != nil {
		t.Errorf("router = %+v; want service defaulting to the only one, every entry point", r)
	}
	s := routes.Services[0]
	if s.Scheme != "http" || !s.PassHostHeader {
		t.Errorf("scheme %q passHostHeader %v; want http, true", s.Scheme, s.PassHostHeader)
	}
	if s.Sticky == nil || s.Sticky.Name != ingress.DefaultCookieName("shop@swarm") || s.Sticky.Path != "/" ||
		!s.Sticky.Secure || s.Sticky.HTTPOnly || s.Sticky.SameSite != 0 || s.Sticky.MaxAge != 0 {
		t.Errorf("sticky = %+v; any sticky.cookie.* label enables the cookie with Traefik's defaults", s.Sticky)
	}
	if hc := s.HealthCheck; hc == nil || hc.Interval != 30*time.Second || hc.Timeout != 5*time.Second {
		t.Errorf("health check = %+v; want interval 30s, timeout 5s", hc)
	}
}

func TestParseLabelsNoTraefikLabels(t *testing.T) {
	routes, err := ingress.ParseLabels("db", labels("com.docker.stack.namespace=x"))
	if err != nil {
		t.Fatal(err)
	}
	if len(routes.Routers) != 0 || len(routes.Services) != 0 {
		t.Errorf("routes = %+v, want none", routes)
	}
}

func TestParseLabelsDisabledIsNotChecked(t *testing.T) {
	routes, err := ingress.ParseLabels("x", labels(
		"traefik.enable=false",
		"traefik.http.routers.x.rule=Nope(",
	))
	if err != nil {
		t.Fatalf("a disabled service's labels are ignored, as Traefik: %v", err)
	}
	if routes.Exposed(true) || len(routes.Routers) != 0 {
		t.Errorf("disabled service exposed: %+v", routes)
	}
}

func TestParseLabelsIgnored(t *testing.T) {
	routes, err := ingress.ParseLabels("x", labels(
		"traefik.http.routers.x.rule=Host(`x`)",
		"traefik.http.routers.x.observability.accesslogs=false",
		"traefik.http.routers.x.tls=false",
		"traefik.http.services.x.loadbalancer.server.port=80",
		"traefik.http.services.x.loadbalancer.server.weight=2",
		"traefik.http.services.x.loadbalancer.strategy=p2c",
		"traefik.docker.network=proxy",
		"traefik.swarm.lbswarm=false",
		"traefik.constraint-label=public",
	))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ig := range routes.Ignored {
		if ig.Reason == "" {
			t.Errorf("%s ignored without a reason", ig.Label)
		}
		got = append(got, ig.Label)
	}
	want := []string{
		"traefik.constraint-label", "traefik.docker.network",
		"traefik.http.routers.x.observability.accesslogs",
		"traefik.http.services.x.loadbalancer.server.weight", "traefik.http.services.x.loadbalancer.strategy",
		"traefik.swarm.lbswarm",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Ignored = %q\nwant %q", got, want)
	}
}

func TestParseLabelsErrorsNameTheLabel(t *testing.T) {
	const port = "traefik.http.services.s.loadbalancer.server.port=80"
	cases := []struct {
		name   string
		labels map[string]string
		label  string // the label the error must name
		msg    string
	}{
		{"bad enable", labels("traefik.enable=yes please"), "traefik.enable", "not true or false"},
		{"rule does not parse", labels("traefik.http.routers.r.rule=Host(`a`", port),
			"traefik.http.routers.r.rule", "syntax error"},
		{"unknown matcher", labels("traefik.http.routers.r.rule=Hots(`a`)", port),
			"traefik.http.routers.r.rule", "unknown matcher Hots"},
		{"missing rule", labels("traefik.http.routers.r.priority=1", port),
			"traefik.http.routers.r.rule", "required"},
		{"non-numeric priority", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.routers.r.priority=high", port),
			"traefik.http.routers.r.priority", "not a whole number"},
		{"non-numeric port", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.services.s.loadbalancer.server.port=http"),
			"traefik.http.services.s.loadbalancer.server.port", "not a port number"},
		{"port out of range", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.services.s.loadbalancer.server.port=70000"),
			"traefik.http.services.s.loadbalancer.server.port", "not a port number"},
		{"missing port", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.services.s.loadbalancer.sticky.cookie=true"),
			"traefik.http.services.s.loadbalancer.server.port", "shoal does not detect ports"},
		{"implicit service has no port", labels("traefik.http.routers.r.rule=Host(`a`)"),
			"traefik.http.services.my-app.loadbalancer.server.port", "shoal does not detect ports"},
		{"unknown sameSite", labels("traefik.http.routers.r.rule=Host(`a`)", port, "traefik.http.services.s.loadbalancer.sticky.cookie.samesite=sometimes"),
			"traefik.http.services.s.loadbalancer.sticky.cookie.samesite", `sameSite "sometimes"`},
		{"bad maxAge", labels("traefik.http.routers.r.rule=Host(`a`)", port, "traefik.http.services.s.loadbalancer.sticky.cookie.maxage=1h"),
			"traefik.http.services.s.loadbalancer.sticky.cookie.maxage", "not a whole number"},
		{"bad secure", labels("traefik.http.routers.r.rule=Host(`a`)", port, "traefik.http.services.s.loadbalancer.sticky.cookie.secure=si"),
			"traefik.http.services.s.loadbalancer.sticky.cookie.secure", "not true or false"},
		{"bad scheme", labels("traefik.http.routers.r.rule=Host(`a`)", port, "traefik.http.services.s.loadbalancer.server.scheme=ftp"),
			"traefik.http.services.s.loadbalancer.server.scheme", "not http, https or h2c"},
		{"bad interval", labels("traefik.http.routers.r.rule=Host(`a`)", port,
			"traefik.http.services.s.loadbalancer.healthcheck.path=/h", "traefik.http.services.s.loadbalancer.healthcheck.interval=often"),
			"traefik.http.services.s.loadbalancer.healthcheck.interval", "not a positive duration"},
		{"health check without path", labels("traefik.http.routers.r.rule=Host(`a`)", port, "traefik.http.services.s.loadbalancer.healthcheck.interval=5s"),
			"traefik.http.services.s.loadbalancer.healthcheck.path", "required"},
		{"router service undefined", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.routers.r.service=t", port),
			"traefik.http.routers.r.service", `service "t" is not defined`},
		{"Traefik v2's dashboard alone", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.routers.r.service=dashboard@internal", port),
			"traefik.http.routers.r.service", "dashboard@internal is Traefik v2's dashboard alone; shoal's dashboard and its API are one service: use api@internal"},
		{"implicit service beside api@internal has no port", labels("traefik.http.routers.d.rule=Host(`d`)", "traefik.http.routers.d.service=api@internal",
			"traefik.http.routers.r.rule=Host(`a`)"),
			"traefik.http.services.my-app.loadbalancer.server.port", "shoal does not detect ports"},
		{"router service of another provider", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.routers.r.service=s@file", port),
			"traefik.http.routers.r.service", `provider "file"`},
		{"ambiguous router service", labels("traefik.http.routers.r.rule=Host(`a`)", port, "traefik.http.services.t.loadbalancer.server.port=81"),
			"traefik.http.routers.r.service", "required when several services are defined (s, t)"},
		{"unknown router option", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.routers.r.rulez=x", port),
			"traefik.http.routers.r.rulez", `unknown router option "rulez"`},
		{"unknown lb option", labels("traefik.http.routers.r.rule=Host(`a`)", port, "traefik.http.services.s.loadbalancer.server.prot=80"),
			"traefik.http.services.s.loadbalancer.server.prot", `unknown load-balancer option "server.prot"`},
		{"weighted service", labels("traefik.http.services.s.weighted.services[0].name=a"),
			"traefik.http.services.s.weighted.services[0].name", "only loadbalancer services"},
		{"unknown http section", labels("traefik.http.routerz.r.rule=Host(`a`)"),
			"traefik.http.routerz.r.rule", "unknown option"},
		{"v2 rule syntax", labels("traefik.http.routers.r.rule=Host(`a`)", "traefik.http.routers.r.rulesyntax=v2", port),
			"traefik.http.routers.r.rulesyntax", "not supported"},
		{"empty segment", labels("traefik.http.routers..rule=Host(`a`)", port),
			"traefik.http.routers..rule", "empty name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ingress.ParseLabels("my_app", c.labels)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "label "+c.label+": ") || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q\nwant it to name label %s and say %q", err, c.label, c.msg)
			}
			var le *ingress.LabelError
			if !errors.As(err, &le) {
				t.Errorf("error is not a *LabelError")
			}
			if verr := ingress.ValidateLabels(c.labels); verr == nil {
				t.Errorf("ValidateLabels accepted what ParseLabels refused")
			}
		})
	}
}

func TestValidateLabelsReportsEveryProblem(t *testing.T) {
	err := ingress.ValidateLabels(labels(
		"traefik.http.routers.a.rule=Host(`a`",
		"traefik.http.routers.b.priority=x",
		"traefik.http.services.s.loadbalancer.server.port=0",
	))
	if err == nil {
		t.Fatal("no error")
	}
	for _, l := range []string{"traefik.http.routers.a.rule", "traefik.http.routers.b.priority", "traefik.http.routers.b.rule", "traefik.http.services.s.loadbalancer.server.port"} {
		if !strings.Contains(err.Error(), "label "+l+": ") {
			t.Errorf("error does not name %s:\n%v", l, err)
		}
	}
	if ingress.ValidateLabels(webLabels()) != nil {
		t.Errorf("valid labels refused")
	}
}

func TestParseLabelsDurationForms(t *testing.T) {
	for v, want := range map[string]time.Duration{"10": 10 * time.Second, "1m30s": 90 * time.Second, "250ms": 250 * time.Millisecond} {
		routes, err := ingress.ParseLabels("x", labels(
			"traefik.http.routers.x.rule=Host(`x`)",
			"traefik.http.services.x.loadbalancer.server.port=80",
			"traefik.http.services.x.loadbalancer.healthcheck.path=/h",
			"traefik.http.services.x.loadbalancer.healthcheck.interval="+v,
		))
		if err != nil {
			t.Fatal(err)
		}
		if got := routes.Services[0].HealthCheck.Interval; got != want {
			t.Errorf("interval %q = %v, want %v", v, got, want)
		}
	}
}

func TestParseLabelsRouterServiceQualified(t *testing.T) {
	routes, err := ingress.ParseLabels("x", labels(
		"traefik.http.routers.x.rule=Host(`x`)",
		"traefik.http.routers.x.service=Front@swarm",
		"traefik.http.services.front.loadbalancer.server.port=80",
		"traefik.http.services.other.loadbalancer.server.port=81",
	))
	if err != nil {
		t.Fatal(err)
	}
	if routes.Routers[0].Service != "front" {
		t.Errorf("service = %q, want front", routes.Routers[0].Service)
	}
}
