package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// checker actively probes one backend with GET scheme://addr/path every
// interval (loadbalancer.healthcheck.*: the method, scheme, port, Host,
// headers and the status that passes may be set, as Traefik's). A
// response in 200-399 (or the status set) within the timeout passes;
// anything else takes the backend out of new picks until a later probe
// passes, every unhealthy interval if one is set. The first probe runs at once; until it answers, the
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

// newChecker makes the checker of b, a backend of a service whose
// scheme is scheme; clients are the table's.
func newChecker(b *backend, scheme, service string, cfg HealthCheck, clients healthClients, log *slog.Logger, wg *sync.WaitGroup) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.Scheme != "" {
		scheme = cfg.Scheme
	}
	client := clients.http1
	if scheme == "h2c" {
		// Cleartext HTTP/2 with prior knowledge, as the requests go.
		scheme, client = "http", clients.h2c
	}
	addr := b.addr
	if cfg.Port != 0 {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = net.JoinHostPort(host, strconv.Itoa(int(cfg.Port)))
		}
	}
	if cfg.FollowRedirects {
		client = followOnly(client, addr)
	}
	return &checker{
		b: b, url: scheme + "://" + addr + cfg.Path, cfg: cfg, client: client,
		log: log, service: service, wg: wg, ctx: ctx, cancel: cancel,
	}
}

// healthClients are a table's clients for checks: HTTP/1.1 (and https),
// and cleartext HTTP/2.
type healthClients struct{ http1, h2c *http.Client }

// followOnly is c following up to 10 redirects to addr, the task
// itself: a task must not send the ingress's checks to other hosts.
func followOnly(c *http.Client, addr string) *http.Client {
	return &http.Client{Transport: c.Transport, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != addr {
			return fmt.Errorf("redirected to %s, not the task (%s)", req.URL.Host, addr)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}}
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
	next := c.cfg.Interval
	if !ok && c.cfg.UnhealthyInterval > 0 {
		next = c.cfg.UnhealthyInterval
	}
	c.timer.Reset(next)
}

func (c *checker) probe() (bool, string) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Timeout)
	defer cancel()
	method := c.cfg.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "shoal-ingress-healthcheck")
	for _, h := range c.cfg.Headers {
		req.Header.Set(h.Name, h.Value)
	}
	if c.cfg.Hostname != "" {
		req.Host = c.cfg.Hostname
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if want := c.cfg.Status; want != 0 {
		if resp.StatusCode != want {
			return false, fmt.Sprintf("%s, want %d", resp.Status, want)
		}
		return true, ""
	}
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

// newHealthClients are a table's clients for checks (newHealthClient),
// over HTTP/1.1 and over cleartext HTTP/2.
func newHealthClients(base *http.Transport) healthClients {
	h2c := newHealthClient(base)
	tr := h2c.Transport.(*http.Transport)
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	return healthClients{http1: newHealthClient(base), h2c: h2c}
}

// closeIdle closes the clients' idle connections.
func (hc healthClients) closeIdle() {
	for _, c := range []*http.Client{hc.http1, hc.h2c} {
		if tr, ok := c.Transport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	}
}
