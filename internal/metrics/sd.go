package metrics

import (
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// Scrape labels a service carries to be listed for Prometheus: the common
// prometheus.io/* annotations, or the short prometheus-* form some Swarm
// stacks use. Either set works; the prometheus.io one wins.
var scrapeLabels = []struct{ scrape, port, path string }{
	{"prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"},
	{"prometheus-scrape", "prometheus-port", "prometheus-path"},
}

// TargetGroup is one entry of Prometheus' http_sd_configs format.
type TargetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Targets lists the running tasks of services labelled for scraping, one
// group per task: its address (a published host port for the metrics
// port, else its address on its first network) and its labels.
func Targets(tx *state.ReadTx) []TargetGroup {
	out := []TargetGroup{}
	for _, svc := range tx.Services() {
		port, path, ok := scrapeOf(svc.Spec.Labels)
		if !ok {
			continue
		}
		for _, t := range tx.TasksByService(svc.ID) {
			if t.DesiredState != api.TaskStateRunning || t.Status.State != api.TaskStateRunning {
				continue
			}
			addr := taskAddr(t, port)
			if addr == "" {
				continue
			}
			labels := map[string]string{
				"__metrics_path__": path,
				"service":          svc.Spec.Name,
				"task":             t.ID,
				"slot":             strconv.FormatUint(t.Slot, 10),
				"node":             t.NodeID,
			}
			if n := tx.Node(t.NodeID); n != nil {
				labels["node"] = n.Description.Hostname
			}
			if st := svc.Spec.Labels[api.StackNamespaceLabel]; st != "" {
				labels["stack"] = st
			}
			out = append(out, TargetGroup{Targets: []string{addr}, Labels: labels})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Targets[0] < out[j].Targets[0] })
	return out
}

// scrapeOf reads a service's scrape labels: the port (required) and the
// path (default /metrics).
func scrapeOf(labels map[string]string) (uint32, string, bool) {
	for _, l := range scrapeLabels {
		if on, _ := strconv.ParseBool(labels[l.scrape]); !on {
			continue
		}
		port, err := strconv.ParseUint(labels[l.port], 10, 16)
		if err != nil || port == 0 {
			continue
		}
		path := labels[l.path]
		if path == "" || path[0] != '/' {
			path = "/metrics"
		}
		return uint32(port), path, true
	}
	return 0, "", false
}

// taskAddr is where a scraper reaches port of task t.
func taskAddr(t *api.Task, port uint32) string {
	for _, e := range t.Endpoints {
		if e.TargetPort == port && (e.Protocol == "" || e.Protocol == "tcp") {
			return e.Addr
		}
	}
	for _, na := range t.NetworksAttachments {
		for _, a := range na.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil {
				return net.JoinHostPort(p.Addr().String(), strconv.FormatUint(uint64(port), 10))
			}
		}
	}
	return ""
}

// SDHandler serves Targets of store in http_sd_configs' JSON.
func SDHandler(store *state.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Targets(store.Read()))
	})
}
