package ingress_test

import (
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/ingress"
)

// bcryptUser is user "admin", password "s3cret" (bcrypt, cost 4).
const bcryptUser = "admin:$2a$04$pRaS278Ive4RRNn01S/xE.4mm5fekZH1Q9JnDybsbkQy4NEpnRDk2"

// Labels the ingress cannot honour are refused, each naming its label and
// saying why, and every router of the service is marked refused.
func TestParseLabelsFailClosed(t *testing.T) {
	const rule, port = "traefik.http.routers.r.rule=Host(`a`)", "traefik.http.services.s.loadbalancer.server.port=80"
	cases := []struct {
		name  string
		extra []string
		label string
		msg   string
	}{
		{"undefined middleware", []string{"traefik.http.routers.r.middlewares=auth"},
			"traefik.http.routers.r.middlewares", `middleware "auth" is not defined`},
		{"middleware of another provider", []string{"traefik.http.routers.r.middlewares=auth@file"},
			"traefik.http.routers.r.middlewares", `provider "file"`},
		{"unsupported middleware", []string{"traefik.http.routers.r.middlewares=fa", "traefik.http.middlewares.fa.plugin.blockpath.regex=^/admin"},
			"traefik.http.middlewares.fa.plugin.blockpath.regex", "plugin is not supported"},
		{"unknown middleware type", []string{"traefik.http.middlewares.x.bogus.a=1"},
			"traefik.http.middlewares.x.bogus.a", "unknown middleware type"},
		{"unknown middleware option", []string{"traefik.http.middlewares.s.stripprefix.prefixes=/a", "traefik.http.middlewares.s.stripprefix.prefix=/b"},
			"traefik.http.middlewares.s.stripprefix.prefix", "unknown option"},
		{"plain-text password", []string{"traefik.http.middlewares.auth.basicauth.users=admin:admin"},
			"traefik.http.middlewares.auth.basicauth.users", "plain-text passwords are refused"},
		{"two types", []string{"traefik.http.middlewares.m.stripprefix.prefixes=/a", "traefik.http.middlewares.m.addprefix.prefix=/b"},
			"traefik.http.middlewares.m.stripprefix.prefixes", "has one type"},
		{"chain member undefined", []string{"traefik.http.middlewares.c.chain.middlewares=nope"},
			"traefik.http.middlewares.c.chain.middlewares", `middleware "nope" is not defined`},
		{"chain cycle", []string{"traefik.http.middlewares.c.chain.middlewares=d", "traefik.http.middlewares.d.chain.middlewares=c"},
			"traefik.http.middlewares.c.chain.middlewares", "includes itself"},
		{"entry point https", []string{"traefik.http.routers.r.entrypoints=websecure,https"}, "traefik.http.routers.r.entrypoints", "entry point https does not exist"},
		{"unknown entry point", []string{"traefik.http.routers.r.entrypoints=http"}, "traefik.http.routers.r.entrypoints", "entry point http does not exist"},
		{"tls not a bool", []string{"traefik.http.routers.r.tls=yes please"}, "traefik.http.routers.r.tls", "not true or false"},
		{"certresolver", []string{"traefik.http.routers.r.tls.certresolver=le"}, "traefik.http.routers.r.tls.certresolver", "ACME certificate resolvers are not supported"},
		{"tls options of another provider", []string{"traefik.http.routers.r.tls.options=modern@swarm"}, "traefik.http.routers.r.tls.options", "labels cannot define them"},
		{"tls domains option", []string{"traefik.http.routers.r.tls.domains[0].other=a.example"}, "traefik.http.routers.r.tls.domains[0].other", "want domains[N].main"},
		{"tls domain wildcard", []string{"traefik.http.routers.r.tls.domains[0].sans=a.*.example"}, "traefik.http.routers.r.tls.domains[0].sans", "invalid domain"},
		{"tcp", []string{"traefik.tcp.routers.db.rule=HostSNI(`*`)"}, "traefik.tcp.routers.db.rule", "TCP routers are not supported"},
		{"traefik.tls options", []string{"traefik.tls.options.default.minversion=VersionTLS12"}, "traefik.tls.options.default.minversion", "--ingress-tls-options"},
		{"servers transport", []string{"traefik.http.services.s.loadbalancer.serverstransport=insecure"},
			"traefik.http.services.s.loadbalancer.serverstransport", "not supported"},
		{"health check mode", []string{"traefik.http.services.s.loadbalancer.healthcheck.path=/h", "traefik.http.services.s.loadbalancer.healthcheck.mode=grpc"},
			"traefik.http.services.s.loadbalancer.healthcheck.mode", "not supported yet"},
		{"v1 rule", []string{"traefik.frontend.rule=Host:a.com"}, "traefik.frontend.rule", "traefik.http.routers.NAME.rule"},
		{"v1 port", []string{"traefik.port=8080"}, "traefik.port", "traefik.http.services.NAME.loadbalancer.server.port"},
		{"v1 segment", []string{"traefik.api.frontend.rule=Host:a.com"}, "traefik.api.frontend.rule", "Traefik v1 label"},
		{"v1 auth", []string{"traefik.frontend.auth.basic.users=" + bcryptUser}, "traefik.frontend.auth.basic.users", "basicauth middleware"},
		{"docker option", []string{"traefik.docker.nonsense=1"}, "traefik.docker.nonsense", "unknown option"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			routes, err := ingress.ParseLabels("my_app", labels(append([]string{rule, port}, c.extra...)...))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), "label "+c.label+": ") || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q\nwant it to name label %s and say %q", err, c.label, c.msg)
			}
			if len(routes.Routers) != 1 || !strings.Contains(routes.Routers[0].Refused, c.label) {
				t.Errorf("router not refused naming %s: %+v", c.label, routes.Routers)
			}
		})
	}
}

func TestParseLabelsMiddlewares(t *testing.T) {
	routes, err := ingress.ParseLabels("dash", labels(
		"traefik.http.routers.r.rule=PathPrefix(`/dash`)",
		"traefik.http.routers.r.middlewares=secured@swarm, strip",
		"traefik.http.middlewares.secured.chain.middlewares=auth,hdr",
		"traefik.http.middlewares.auth.basicauth.users="+bcryptUser,
		"traefik.http.middlewares.hdr.headers.customResponseHeaders.X-Frame-Options=DENY",
		"traefik.http.middlewares.strip.stripprefix.prefixes=/dash",
		"traefik.http.middlewares.gz.compress=true", // defined, unused: still checked
		"traefik.http.services.s.loadbalancer.server.port=80",
	))
	if err != nil {
		t.Fatal(err)
	}
	r := routes.Routers[0]
	if strings.Join(r.Middlewares, ",") != "secured,strip" || r.Middleware == nil || r.Refused != "" {
		t.Errorf("router = %+v", r)
	}
}
