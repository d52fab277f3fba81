package ingress

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics under Traefik v3's names and labels, so that dashboards made
// for Traefik read the ingress. Routers and services are named
// "NAME@SHOALSERVICE" where Traefik writes "NAME@PROVIDER".
var (
	reqLabels   = []string{"code", "method", "protocol"}
	descEPReqs  = prometheus.NewDesc("traefik_entrypoint_requests_total", "How many HTTP requests an entry point answered.", append(reqLabels, "entrypoint"), nil)
	descEPDur   = prometheus.NewDesc("traefik_entrypoint_request_duration_seconds", "How long an entry point took to answer requests.", append(reqLabels, "entrypoint"), nil)
	descRtReqs  = prometheus.NewDesc("traefik_router_requests_total", "How many HTTP requests a router took.", append(reqLabels, "router", "service"), nil)
	descRtDur   = prometheus.NewDesc("traefik_router_request_duration_seconds", "How long the requests a router took lasted.", append(reqLabels, "router", "service"), nil)
	descSvcReqs = prometheus.NewDesc("traefik_service_requests_total", "How many HTTP requests went to a service.", append(reqLabels, "service"), nil)
	descSvcDur  = prometheus.NewDesc("traefik_service_request_duration_seconds", "How long the requests to a service lasted.", append(reqLabels, "service"), nil)
	descRetries = prometheus.NewDesc("traefik_service_retries_total", "Requests retried on another backend.", []string{"service"}, nil)
	descOpen    = prometheus.NewDesc("traefik_open_connections", "Client connections open now.", []string{"entrypoint", "protocol"}, nil)
	descRefused = prometheus.NewDesc("shoal_ingress_refused_connections_total",
		"Client connections closed at accept because the connection limit was reached.", []string{"entrypoint"}, nil)
	descNoBackend = prometheus.NewDesc("shoal_ingress_no_backend_total",
		"Requests answered 503 for want of a healthy task.", []string{"service"}, nil)
	descBackendErr = prometheus.NewDesc("shoal_ingress_backend_errors_total",
		"Requests that failed at every attempt (502/504).", []string{"service"}, nil)
	descUnrouted = prometheus.NewDesc("shoal_ingress_unrouted_requests_total",
		"Requests no router matched (answered 404).", nil, nil)
)

// Collector returns the table's metrics, read from its counters at each
// scrape: requests counted once serve both the metrics and Stats.
func (t *Table) Collector() prometheus.Collector { return (*tableCollector)(t) }

type tableCollector Table

func (c *tableCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEPReqs, descEPDur, descRtReqs, descRtDur, descSvcReqs, descSvcDur,
		descRetries, descOpen, descRefused, descNoBackend, descBackendErr, descUnrouted} {
		ch <- d
	}
}

func (c *tableCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.stats
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, s := range r.entryPoints {
		emitRequests(ch, &s.reqs, descEPReqs, descEPDur, name)
		var open int64
		var refused uint64
		for _, p := range s.proxies {
			open += p.Open()
			refused += p.Refused()
		}
		ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(open), name, "TCP")
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(refused), name)
	}
	for key, s := range r.routers {
		svc := ""
		if p := s.svcLabel.Load(); p != nil {
			svc = metricName(*p)
		}
		emitRequests(ch, &s.reqs, descRtReqs, descRtDur, metricName(key), svc)
	}
	for key, s := range r.services {
		name := metricName(key)
		emitRequests(ch, &s.reqs, descSvcReqs, descSvcDur, name)
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(s.retries.Load()), name)
		ch <- prometheus.MustNewConstMetric(descNoBackend, prometheus.CounterValue, float64(s.noBackend.Load()), name)
		ch <- prometheus.MustNewConstMetric(descBackendErr, prometheus.CounterValue, float64(s.errors.Load()), name)
	}
	ch <- prometheus.MustNewConstMetric(descUnrouted, prometheus.CounterValue, float64(r.unrouted.Load()))
}

// emitRequests sends a counter and a histogram per cell of rc.
func emitRequests(ch chan<- prometheus.Metric, rc *reqCounter, total, dur *prometheus.Desc, labels ...string) {
	rc.each(func(x *reqCell) {
		h := x.h.snapshot()
		if h.Count == 0 {
			return
		}
		lv := append([]string{strconv.Itoa(x.code), methodNames[x.meth], protoNames[x.proto]}, labels...)
		ch <- prometheus.MustNewConstMetric(total, prometheus.CounterValue, float64(h.Count), lv...)
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(dur, h.Count, h.Sum.Seconds(), buckets, lv...)
	})
}

// metricName turns a "SHOALSERVICE/NAME" key into "NAME@SHOALSERVICE".
func metricName(key string) string {
	svc, name, ok := strings.Cut(key, "/")
	if !ok {
		return key
	}
	return name + "@" + svc
}
