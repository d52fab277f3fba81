package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// service inspect --pretty shows what the ingress does with the labels:
// routers, middlewares, services, and the labels without effect; for
// labels it cannot honour, that the routers answer 503, and why.
func TestPrettyIngress(t *testing.T) {
	svc := &api.Service{ID: "s1", Spec: api.ServiceSpec{Name: "dash", Labels: map[string]string{
		"traefik.http.routers.dash.rule":                        "PathPrefix(`/dash`)",
		"traefik.http.routers.dash.middlewares":                 "auth,strip",
		"traefik.http.middlewares.auth.basicauth.users":         "admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
		"traefik.http.middlewares.strip.stripprefix.prefixes":   "/dash",
		"traefik.http.services.dash.loadbalancer.server.port":   "80",
		"traefik.http.services.dash.loadbalancer.sticky.cookie": "true",
		"traefik.docker.network":                                "traefik-public",
	}}}
	var b bytes.Buffer
	if err := writePretty(&b, []*api.Service{svc}, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Ingress:", "Router dash:", "Rule:", "PathPrefix(`/dash`)", "Priority:", "19",
		"Middlewares:", "auth, strip", "Service:", "dash (port 80, http, sticky cookie _", "No effect:", "traefik.docker.network:"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "503") {
		t.Errorf("served router shown as refused:\n%s", out)
	}

	// A middleware the labels do not define is taken as another
	// service's (the managers checked it).
	svc.Spec.Labels["traefik.http.routers.dash.middlewares"] = "auth,strip,shared"
	b.Reset()
	if err := writePretty(&b, []*api.Service{svc}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out = b.String(); !strings.Contains(out, "auth, strip, shared@swarm") || strings.Contains(out, "503") {
		t.Errorf("another service's middleware:\n%s", out)
	}

	svc.Spec.Labels["traefik.http.middlewares.fa.plugin.blockpath.regex"] = "^/admin"
	b.Reset()
	if err := writePretty(&b, []*api.Service{svc}, time.Now()); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	for _, want := range []string{"Served:", "no, answers 503", "Problems", `label traefik.http.middlewares.fa.plugin.blockpath.regex: middleware type plugin is not supported`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}

	b.Reset()
	svc.Spec.Labels = map[string]string{"app": "x"}
	_ = writePretty(&b, []*api.Service{svc}, time.Now())
	if strings.Contains(b.String(), "Ingress:") {
		t.Errorf("a service without traefik labels has an Ingress section:\n%s", b.String())
	}
}
