package e2e

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/shoalproject/shoal/api"
)

// The ingress of every node counts its requests under Traefik's metric
// names: a worker node (`shoal agent --metrics`) serves its own /metrics
// to the token's bearers only, and a manager adds its ingress's to its
// own /metrics.
func TestIngressMetricsOnEveryNode(t *testing.T) {
	ctx := ctxTimeout(t, 2*time.Minute)
	ac, _ := newAgentCluster(t, ctx)
	token := "an-agent-metrics-token-0123"
	tokFile := filepath.Join(t.TempDir(), "metrics.token")
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := ac.startAgent("agent-m", "127.0.0.2", "--metrics", "127.0.0.2:0", "--metrics-token-file", tokFile)
	metricsURL := strings.Fields(field(t, a.out, "metrics"))[0]

	spec := processSpec("web", 2, testApp)
	spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}}
	spec.Labels = map[string]string{
		"traefik.http.routers.web.rule":                      "PathPrefix(`/`)",
		"traefik.http.services.web.loadbalancer.server.port": "80",
	}
	spec.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{
		Test: []string{"CMD", testApp, "health"}, Interval: api.DurationPtr(100 * time.Millisecond),
		Timeout: api.DurationPtr(5 * time.Second), Retries: u64p(3),
	}
	if _, err := ac.c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, ac.c, "web", "2 running", nRunning(2))
	// The agent's ingress learns the tasks' health over its routes
	// stream, a moment after the managers' API shows them running: until
	// then it answers 503 (counted under code 503, apart from the 200s
	// below).
	first := waitServed(t, ctx, a.ingress)
	seen := hitAll(t, a.ingress, running(tasks))
	seen[first]++
	n := 0
	for _, c := range seen {
		n += c
	}

	// Without the token: 401.
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("agent metrics without a token: %s, want 401", resp.Status)
	}
	labels := map[string]string{"code": "200", "method": "GET", "protocol": "http"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for lk, lv := range labels {
			m[lk] = lv
		}
		return m
	}
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams = scrape(t, http.DefaultClient, metricsURL, token)
		if gauge(fams, "traefik_entrypoint_requests_total", with("entrypoint", "web")) == float64(n) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		fam    string
		labels map[string]string
	}{
		{"traefik_entrypoint_requests_total", with("entrypoint", "web")},
		{"traefik_entrypoint_request_duration_seconds", with("entrypoint", "web")},
		{"traefik_router_requests_total", with("router", "web@web")},
		{"traefik_router_request_duration_seconds", with("service", "web@web")},
		{"traefik_service_requests_total", with("service", "web@web")},
		{"traefik_service_request_duration_seconds", with("service", "web@web")},
	} {
		if got := gauge(fams, c.fam, c.labels); got != float64(n) {
			t.Errorf("agent: %s%v = %v, want %d", c.fam, c.labels, got, n)
		}
	}
	if fams["traefik_open_connections"] == nil || fams["process_open_fds"] == nil {
		t.Errorf("agent metrics lack traefik_open_connections or process_open_fds")
	}

	// The manager's ingress, on the manager's /metrics.
	var devOut []string
	for l := range ac.dev.lines {
		devOut = append(devOut, l)
		if strings.Contains(l, "ingress:") {
			break
		}
	}
	mgrIngress := strings.Fields(field(t, devOut, "ingress"))[0]
	hc := &http.Client{Timeout: 10 * time.Second}
	for range 3 {
		hit(t, hc, mgrIngress)
	}
	sock := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", filepath.Join(ac.devDir, "shoal.sock"))
	}}}
	deadline = time.Now().Add(10 * time.Second)
	for {
		fams = scrape(t, sock, "http://shoal/metrics", "")
		got := gauge(fams, "traefik_service_requests_total", with("service", "web@web"))
		if got == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager: traefik_service_requests_total = %v, want 3", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitServed sends requests through the ingress at base until one is
// answered 200, and returns the task that answered; 503s (no healthy
// task yet) are tried again.
func waitServed(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		if id, status := hitStatus(t, hc, base, http.StatusServiceUnavailable); status == http.StatusOK {
			return id
		}
		select {
		case <-ctx.Done():
			t.Fatalf("ingress %s never served: still 503", base)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
