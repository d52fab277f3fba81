package api_test

import (
	"testing"

	"github.com/shoalproject/shoal/api"
)

func TestRoutedPortsAreAddedOnce(t *testing.T) {
	labels := map[string]string{
		"traefik.http.services.web.loadbalancer.server.port": "8080",
		"Traefik.HTTP.Services.Api.LoadBalancer.Server.Port": "9090",
		"traefik.http.services.dup.loadbalancer.server.port": "80",
		"traefik.http.routers.web.rule":                      "PathPrefix(`/`)",
		"traefik.http.services.bad.loadbalancer.server.port": "http",
	}
	got := api.RoutedPorts([]api.PortConfig{{TargetPort: 80}}, labels)
	var targets []uint32
	for _, p := range got {
		targets = append(targets, p.TargetPort)
	}
	if len(targets) != 3 || targets[0] != 80 || targets[1] != 8080 || targets[2] != 9090 {
		t.Fatalf("ports %v, want 80 (published) then 8080 and 9090 from the labels", targets)
	}
}
