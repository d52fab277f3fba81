package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalproject/shoal/internal/metrics"
)

// withMetrics adds to the API's handler GET /metrics (Prometheus' text
// format) and GET /v1/sd/prometheus (scrape targets), served to the API
// socket's owner like the rest of the API.
func (d *Dev) withMetrics(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", d.metrics.Handler())
	mux.Handle("GET /v1/sd/prometheus", metrics.SDHandler(d.mgr.Store()))
	mux.Handle("/", api)
	return mux
}

// serveMetrics serves /metrics and /sd on TCP addr to requests bearing
// token.
func (d *Dev) serveMetrics(addr string, token []byte, log *slog.Logger) error {
	srv, bound, err := listenMetrics(addr, token, d.metrics.Handler(), metrics.SDHandler(d.mgr.Store()), &d.wg, log)
	if err != nil {
		return err
	}
	d.metricsSrv, d.metricsAddr = srv, bound
	return nil
}

// listenMetrics serves h as /metrics (and sd as /sd, when not nil) on
// TCP addr to requests bearing token, until the server is shut down; it
// returns the server and the address it listens on.
func listenMetrics(addr string, token []byte, h, sd http.Handler, wg *sync.WaitGroup, log *slog.Logger) (*http.Server, string, error) {
	if len(token) == 0 {
		return nil, "", errors.New("a metrics listener needs a token (--metrics-token-file): every TCP listener authenticates its peer")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics listener: %w", err)
	}
	srv := metrics.Server(h, sd, token)
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}

// MetricsAddr is the metrics listener's address, empty when there is none.
func (d *Dev) MetricsAddr() string { return d.metricsAddr }

// startAgentMetrics serves a worker node's own metrics (its process and
// its ingress's, under Traefik's names) on cfg.MetricsAddr; nothing
// without one.
func (a *Agent) startAgentMetrics(cfg AgentConfig, log *slog.Logger) error {
	if cfg.MetricsAddr == "" {
		return nil
	}
	reg := metrics.NewRegistry()
	registerIngress(reg, a.ingress)
	srv, bound, err := listenMetrics(cfg.MetricsAddr, cfg.MetricsToken, metrics.Handler(reg), nil, &a.wg, log)
	if err != nil {
		return err
	}
	a.metricsSrv, a.metricsAddr = srv, bound
	return nil
}

// stopAgentMetrics closes the agent's metrics listener, if any.
func (a *Agent) stopAgentMetrics(ctx context.Context) {
	if a.metricsSrv != nil {
		_ = a.metricsSrv.Shutdown(ctx)
	}
}

// MetricsAddr is the agent's metrics listener's address, empty when there
// is none.
func (a *Agent) MetricsAddr() string { return a.metricsAddr }

// registerIngress adds the ingress's metrics (Traefik's names) to reg.
func registerIngress(reg *prometheus.Registry, in *nodeIngress) {
	if in != nil {
		reg.MustRegister(in.table.Collector())
	}
}
