package ingress

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// checker actively probes one backend with GET scheme://addr/path every
// interval (loadbalancer.healthcheck.*). A response in 200-399 within the
// timeout passes; anything else takes the backend out of new picks until a
// later probe passes. The first probe runs at once; until it answers, the
// backend is taken as healthy, as Traefik does (the task already passed
// its own healthcheck to be running).
//
// It runs on a time.AfterFunc timer, never a sleeping goroutine: between
// probes nothing runs, and stop cancels the timer and any probe in flight.
type checker struct {
	b       *backend
	url     string
	cfg     HealthCheck
	client  *http.Client
	log     *slog.Logger
	service string
	wg      *sync.WaitGroup // the table's: Close waits for running probes

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	stopped bool
}

func newChecker(b *backend, scheme, service string, cfg HealthCheck, client *http.Client, log *slog.Logger, wg *sync.WaitGroup) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	return &checker{
		b: b, url: scheme + "://" + b.addr + cfg.Path, cfg: cfg, client: client,
		log: log, service: service, wg: wg, ctx: ctx, cancel: cancel,
	}
}

// start schedules the first probe now.
func (c *checker) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.wg.Add(1)
	c.timer = time.AfterFunc(0, c.run)
}

// stop cancels the next probe and the one in flight; it does not wait.
func (c *checker) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	c.stopped = true
	if c.timer != nil && c.timer.Stop() {
		c.wg.Done() // the scheduled run will not happen
	}
	c.cancel()
}

func (c *checker) run() {
	defer c.wg.Done()
	ok, reason := c.probe()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return
	}
	if wasDown := c.b.down.Swap(!ok); wasDown == ok {
		if ok {
			c.log.Info("ingress: backend passes its health check again", "service", c.service, "task", c.b.taskID, "addr", c.b.addr)
		} else {
			c.log.Warn("ingress: backend fails its health check; no new requests until it passes",
				"service", c.service, "task", c.b.taskID, "addr", c.b.addr, "reason", reason)
		}
	}
	c.wg.Add(1)
	c.timer.Reset(c.cfg.Interval)
}

func (c *checker) probe() (bool, string) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "shoal-ingress-healthcheck")
	resp, err := c.client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, resp.Status
	}
	return true, ""
}

// newHealthClient is the client of every probe: no keep-alive (a probe
// every few seconds gains nothing from it, and no idle connection
// outlives the table), no redirects followed (a 3xx passes).
func newHealthClient(base *http.Transport) *http.Client {
	t := base.Clone()
	t.DisableKeepAlives = true
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
