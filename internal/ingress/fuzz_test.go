package ingress_test

import (
	"testing"

	"github.com/shoalproject/shoal/internal/ingress"
)

// FuzzParseLabels checks that no label set makes the label parser panic,
// and that what it accepts is consistent.
func FuzzParseLabels(f *testing.F) {
	f.Add("traefik.http.routers.web.rule", "PathPrefix(`/app/`)", "traefik.http.services.signup-web.loadbalancer.server.port", "80")
	f.Add("traefik.http.services.s.loadbalancer.sticky.cookie.samesite", "lax", "traefik.http.routers.r.service", "s@swarm")
	f.Add("TRAEFIK.HTTP.ROUTERS.R.PRIORITY", "-3", "traefik.http.services.s.loadbalancer.healthcheck.interval", "9223372036854775807")
	f.Add("traefik.http.routers..rule", "", "traefik.", ".")
	f.Add("traefik.http.services.s.weighted.services[0].name", "x", "traefik.enable", "false")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		lbl := map[string]string{k1: v1, k2: v2, "traefik.http.routers.base.rule": "Host(`x`)"}
		routes, err := ingress.ParseLabels("fuzz_svc", lbl)
		if routes == nil {
			t.Fatal("nil routes")
		}
		if (err == nil) != (ingress.ValidateLabels(lbl) == nil) {
			t.Fatal("ParseLabels and ValidateLabels disagree")
		}
		if err != nil {
			return
		}
		for _, r := range routes.Routers {
			if r.Rule == nil || routes.Service(r.Service) == nil {
				t.Fatalf("router %+v without rule or service", r)
			}
		}
		for _, s := range routes.Services {
			if s.Port == 0 {
				t.Fatalf("service %+v without port", s)
			}
		}
	})
}
