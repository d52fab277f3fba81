package ingress_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// scrapeTable gathers the table's metrics, writes them in Prometheus'
// text format and parses that back, as a scraper would.
func scrapeTable(t *testing.T, table *ingress.Table) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(table.Collector())
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, f := range fams {
		if _, err := expfmt.MetricFamilyToText(&buf, f); err != nil {
			t.Fatal(err)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, buf.String())
	}
	return parsed
}

// scrapeAfter scrapes once the entry points counted n requests: a
// response can reach the client before its handler returned and counted.
func scrapeAfter(t *testing.T, table *ingress.Table, n float64) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	waitFor(t, "the requests counted", func() bool {
		fams = scrapeTable(t, table)
		var sum float64
		for _, m := range fams["traefik_entrypoint_requests_total"].GetMetric() {
			sum += m.GetCounter().GetValue()
		}
		return sum >= n
	})
	return fams
}

// sample is the value of fam's series with exactly labels want: a
// counter's value, a histogram's count, a gauge's value; -1 if none.
func sample(fams map[string]*dto.MetricFamily, fam string, want map[string]string) float64 {
next:
	for _, m := range fams[fam].GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, l := range m.GetLabel() {
			if want[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// Requests through both paths (the fast path, and net/http for a router
// with middlewares or a WebSocket-style upgrade) are counted under
// Traefik's metric names and labels, by entry point, router and service.
func TestTraefikMetricsCountBothPaths(t *testing.T) {
	e, _ := dashAndPlain(t)
	c := e.client()
	for range 3 {
		if r := e.do(c, http.MethodGet, "/plain/x", ""); r.status != http.StatusOK {
			t.Fatalf("GET /plain/x: %d", r.status)
		}
	}
	if r := e.do(c, http.MethodPost, "/plain/x", "body"); r.status != http.StatusOK {
		t.Fatalf("POST /plain/x: %d", r.status)
	}
	if r := e.do(c, http.MethodGet, "/plain/sse", "", "Accept", "text/event-stream"); r.status != http.StatusOK {
		t.Fatalf("GET /plain/sse: %d", r.status)
	}
	// Middlewares: served by net/http; 401 without credentials.
	for range 2 {
		if r := e.do(c, http.MethodGet, "/dash/api", ""); r.status != http.StatusUnauthorized {
			t.Fatalf("GET /dash/api: %d", r.status)
		}
	}
	if r := e.do(c, http.MethodGet, "/dash/api", "", "Authorization", basicAuth("admin", "s3cret")); r.status != http.StatusOK {
		t.Fatalf("GET /dash/api with credentials: %d", r.status)
	}
	if r := e.do(c, http.MethodGet, "/nowhere", ""); r.status != http.StatusNotFound {
		t.Fatalf("GET /nowhere: %d", r.status)
	}
	fams := scrapeAfter(t, e.table, 9)

	checks := []struct {
		fam    string
		labels map[string]string
		want   float64
	}{
		{"traefik_entrypoint_requests_total", map[string]string{"code": "200", "method": "GET", "protocol": "http", "entrypoint": "web"}, 4},
		{"traefik_entrypoint_requests_total", map[string]string{"code": "200", "method": "POST", "protocol": "http", "entrypoint": "web"}, 1},
		{"traefik_entrypoint_requests_total", map[string]string{"code": "200", "method": "GET", "protocol": "sse", "entrypoint": "web"}, 1},
		{"traefik_entrypoint_requests_total", map[string]string{"code": "401", "method": "GET", "protocol": "http", "entrypoint": "web"}, 2},
		{"traefik_entrypoint_requests_total", map[string]string{"code": "404", "method": "GET", "protocol": "http", "entrypoint": "web"}, 1},
		{"traefik_entrypoint_request_duration_seconds", map[string]string{"code": "200", "method": "GET", "protocol": "http", "entrypoint": "web"}, 4},
		{"traefik_router_requests_total", map[string]string{"code": "200", "method": "GET", "protocol": "http", "router": "p@plain", "service": "p@plain"}, 3},
		{"traefik_router_requests_total", map[string]string{"code": "401", "method": "GET", "protocol": "http", "router": "dash@dash", "service": "dash@dash"}, 2},
		{"traefik_router_request_duration_seconds", map[string]string{"code": "200", "method": "GET", "protocol": "http", "router": "dash@dash", "service": "dash@dash"}, 1},
		{"traefik_service_requests_total", map[string]string{"code": "200", "method": "POST", "protocol": "http", "service": "p@plain"}, 1},
		{"traefik_service_requests_total", map[string]string{"code": "200", "method": "GET", "protocol": "sse", "service": "p@plain"}, 1},
		{"traefik_service_request_duration_seconds", map[string]string{"code": "200", "method": "GET", "protocol": "http", "service": "p@plain"}, 3},
		{"traefik_open_connections", map[string]string{"entrypoint": "web", "protocol": "TCP"}, -2}, // present
		{"shoal_ingress_unrouted_requests_total", map[string]string{}, 1},
	}
	for _, c := range checks {
		got := sample(fams, c.fam, c.labels)
		if c.want == -2 {
			if got < 0 {
				t.Errorf("%s%v missing", c.fam, c.labels)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s%v = %v, want %v", c.fam, c.labels, got, c.want)
		}
	}
	// Stats is read from the same counters.
	st := e.proxy.Stats()
	if got := st.Routers["plain/p"].Requests; got != 5 {
		t.Errorf("Stats: router plain/p took %d requests, want 5", got)
	}
	if got := st.Routers["dash/dash"].ByClass["4xx"]; got != 2 {
		t.Errorf("Stats: router dash/dash 4xx = %d, want 2", got)
	}
}

// A method a client makes up is counted as OTHER, so clients cannot
// mint label values.
func TestTraefikMetricsBoundMethods(t *testing.T) {
	e := newEnv(t, ingress.TableOptions{}, ingress.Options{})
	b := startBackend(t, "a", nil)
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", b.addr())})
	c := e.client()
	for _, m := range []string{"FOO", "BAR", "BAZ"} {
		e.do(c, m, "/", "")
	}
	fams := scrapeAfter(t, e.table, 3)
	for _, m := range fams["traefik_entrypoint_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "method" && l.GetValue() != "OTHER" {
				t.Errorf("method label %q, want OTHER", l.GetValue())
			}
		}
	}
	if got := sample(fams, "traefik_entrypoint_requests_total", map[string]string{"code": "200", "method": "OTHER", "protocol": "http", "entrypoint": "web"}); got != 3 {
		t.Errorf("OTHER requests = %v, want 3", got)
	}
}
