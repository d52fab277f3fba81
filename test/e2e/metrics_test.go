package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/metrics"
)

// scrape GETs url through hc and parses Prometheus' text format.
func scrape(t *testing.T, hc *http.Client, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// gauge is the value of fam's metric whose labels include want (a
// gauge's or counter's value, a histogram's count), or -1.
func gauge(fams map[string]*dto.MetricFamily, fam string, want map[string]string) float64 {
	f := fams[fam]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		if m.GetHistogram() != nil {
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// A manager's metrics say what the cluster holds: the API socket serves
// them, the TCP listener only with its bearer token, and services
// labelled for scraping are listed as Prometheus http_sd targets.
func TestMetricsAndScrapeTargets(t *testing.T) {
	token := "a-metrics-token-of-some-length"
	const beat = 300 * time.Millisecond
	d, c := devClusterWith(t, daemon.DevConfig{MetricsAddr: "127.0.0.1:0", MetricsToken: []byte(token), HeartbeatPeriod: beat})
	ctx := ctxTimeout(t, time.Minute)
	hp := freeTCPPort(t)
	spec := publishedWeb("web", 1, api.PortConfig{TargetPort: 80, PublishedPort: hp, PublishMode: api.PublishModeHost})
	spec.Labels = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "80", "prometheus.io/path": "/stats"}
	createRunning(t, ctx, c, spec)
	createRunning(t, ctx, c, processSpec("idle", 2, "sleep", "600"))

	sock := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.Socket())
	}}}
	fams := scrape(t, sock, "http://shoal/metrics", "")
	for _, tc := range []struct {
		fam    string
		labels map[string]string
		want   float64
	}{
		{"shoal_service_running_tasks", map[string]string{"service": "idle"}, 2},
		{"shoal_service_desired_tasks", map[string]string{"service": "idle"}, 2},
		{"shoal_service_running_tasks", map[string]string{"service": "web"}, 1},
		{"shoal_tasks", map[string]string{"state": "running"}, 3},
		{"shoal_nodes", map[string]string{"state": "ready", "role": "manager"}, 1},
		{"shoal_raft_leader", nil, 1},
		{"shoal_services", map[string]string{"mode": "replicated"}, 2},
	} {
		if got := gauge(fams, tc.fam, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.fam, tc.labels, got, tc.want)
		}
	}
	if n := gauge(fams, "shoal_controller_pass_seconds", map[string]string{"controller": "scheduler"}); n < 1 {
		t.Errorf("scheduler passes observed: %v, want some", n)
	}
	for _, op := range []string{"commit", "apply"} {
		if n := gauge(fams, "shoal_raft_seconds", map[string]string{"op": op}); n < 1 {
			t.Errorf("raft %s observed %v times, want some", op, n)
		}
	}
	if n := gauge(fams, "shoal_raft_snapshot_bytes", nil); n < 0 {
		t.Errorf("no shoal_raft_snapshot_bytes")
	}
	// The series move: one more task, one more start (each start is
	// observed once, just after the store applied it: the wait covers
	// that too); and the local agent beats every period, so two periods
	// hold a beat.
	beats := gauge(fams, "shoal_heartbeat_gap_seconds", nil)
	createRunning(t, ctx, c, processSpec("one-more", 1, "sleep", "600"))
	<-time.After(2 * beat)
	fams = scrape(t, sock, "http://shoal/metrics", "")
	// Four process tasks ran: idle's two, web's (a process too) and this.
	if n := gauge(fams, "shoal_task_start_seconds", map[string]string{"runtime": api.RuntimeProcess}); n != 4 {
		t.Errorf("task starts observed %v, want 4", n)
	}
	if n := gauge(fams, "shoal_heartbeat_gap_seconds", nil); n <= beats {
		t.Errorf("heartbeat gaps observed %v, then %v: no beat", beats, n)
	}

	// The TCP listener: the token or nothing.
	base := "http://" + d.MetricsAddr()
	for _, auth := range []string{"", "Bearer wrong-token-wrong-token", "Basic " + token} {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("metrics with Authorization %q: %s, want 401", auth, resp.Status)
		}
	}
	if got := gauge(scrape(t, http.DefaultClient, base+"/metrics", token), "shoal_service_running_tasks", map[string]string{"service": "idle"}); got != 2 {
		t.Errorf("over TCP: idle running %v, want 2", got)
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/sd", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var groups []metrics.TargetGroup
	err = json.NewDecoder(resp.Body).Decode(&groups)
	resp.Body.Close()
	want := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hp)))
	if err != nil || len(groups) != 1 || groups[0].Targets[0] != want || groups[0].Labels["__metrics_path__"] != "/stats" ||
		groups[0].Labels["service"] != "web" || groups[0].Labels["slot"] != "1" {
		t.Fatalf("scrape targets %+v %v, want web's task at %s with path /stats", groups, err, want)
	}
	if groups[0].Labels["task"] == "" {
		t.Errorf("target without its task: %+v", groups[0])
	}
}
