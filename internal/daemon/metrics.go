package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

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
	if len(token) == 0 {
		return errors.New("a metrics listener needs a token (--metrics-token-file): every TCP listener authenticates its peer")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	d.metricsAddr = ln.Addr().String()
	d.metricsSrv = metrics.Server(d.metrics.Handler(), metrics.SDHandler(d.mgr.Store()), token)
	d.metricsSrv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}

// MetricsAddr is the metrics listener's address, empty when there is none.
func (d *Dev) MetricsAddr() string { return d.metricsAddr }
