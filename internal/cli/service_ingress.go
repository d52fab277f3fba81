package cli

import (
	"fmt"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// prettyIngress prints what the ingress does with a service's Traefik
// labels, read by the ingress's own parser: its routers with their rules,
// priorities, middlewares and services, whether they are served, and the
// labels that have no effect.
func prettyIngress(p func(string, ...any), spec *api.ServiceSpec) {
	hasTraefik := false
	for k := range spec.Labels {
		if len(k) > len("traefik.") && strings.EqualFold(k[:len("traefik.")], "traefik.") {
			hasTraefik = true
			break
		}
	}
	if !hasTraefik {
		return
	}
	routes, err := ingress.ParseService(spec, ingress.Env{})
	p("Ingress:")
	if routes.Enable != nil && !*routes.Enable {
		p(" Not routed:\ttraefik.enable=false")
		return
	}
	for _, r := range routes.Routers {
		p(" Router %s:", r.Name)
		p("  Rule:\t%s", r.Rule)
		p("  Priority:\t%d", r.Priority)
		if len(r.EntryPoints) > 0 {
			p("  Entry Points:\t%s", strings.Join(r.EntryPoints, ", "))
		}
		if len(r.Middlewares) > 0 {
			p("  Middlewares:\t%s", strings.Join(r.Middlewares, ", "))
		}
		if lb := routes.Service(r.Service); lb != nil {
			svc := fmt.Sprintf("%s (port %d, %s", lb.Name, lb.Port, lb.Scheme)
			if lb.Sticky != nil {
				svc += ", sticky cookie " + lb.Sticky.Name
			}
			if lb.HealthCheck != nil {
				svc += ", health check " + lb.HealthCheck.Path
			}
			p("  Service:\t%s)", svc)
		}
		if r.Refused != "" {
			p("  Served:\tno, answers 503")
		}
	}
	if err != nil {
		p(" Problems (the ingress does not serve this service):")
		for _, e := range splitJoined(err) {
			p("  %v", e)
		}
	}
	if len(routes.Ignored) > 0 {
		p(" No effect:")
		for _, ig := range routes.Ignored {
			p("  %s:\t%s", ig.Label, ig.Reason)
		}
	}
}

func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
