package compose

import (
	"strings"
	"testing"
)

// The ingress fails closed: a stack whose Traefik labels ask for what it
// cannot do (a middleware it does not implement, a Traefik v1 label)
// fails the plan at the label, and labels it accepts without effect are
// warnings. (A middleware the service's labels do not define may be
// another service's, of another stack: the stack plan checks it against
// the cluster's.)
func TestRoutingLabelsFailClosed(t *testing.T) {
	_, err := loadYAML(t, `services:
  dash:
    image: x
    deploy:
      labels:
        - "traefik.http.routers.dash.rule=PathPrefix(`+"`/dash`"+`)"
        - "traefik.http.routers.dash.middlewares=admin-auth,fa"
        - "traefik.http.middlewares.fa.plugin.blockpath.regex=^/admin"
        - "traefik.http.services.dash.loadbalancer.server.port=80"
  old:
    image: x
    deploy:
      labels:
        traefik.frontend.rule: "Host:old.example.com"
        traefik.port: "80"
`, nil)
	if err == nil {
		t.Fatal("Load accepted labels the ingress cannot honour")
	}
	msg := err.Error()
	for _, want := range []string{
		"services.dash.deploy.labels.traefik.http.middlewares.fa.plugin.blockpath.regex: middleware type plugin is not supported",
		"services.old.deploy.labels.traefik.frontend.rule: a Traefik v1 label",
		"services.old.deploy.labels.traefik.port: a Traefik v1 label",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}

	st, err := loadYAML(t, `services:
  web:
    image: x
    deploy:
      labels:
        - "traefik.http.routers.web.rule=PathPrefix(`+"`/`"+`)"
        - "traefik.http.services.web.loadbalancer.server.port=80"
        - "traefik.docker.network=traefik-public"
        - "traefik.constraint-label=traefik-public"
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "warnings", st.Warnings, []string{
		"service st_web: label traefik.constraint-label has no effect: not a Traefik option: shoal's ingress has no constraints and routes every service with routers",
		"service st_web: label traefik.docker.network has no effect: the ingress reaches tasks on the cluster network",
	})
}
