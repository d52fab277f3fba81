package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// The net/http servers a Proxy runs next to its own connections, and
// Shutdown, which stops them all.

func (p *Proxy) newServer(cfg *tls.Config) *http.Server {
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: p.opts.ReadHeaderTimeout,
		ReadTimeout:       p.opts.ReadTimeout,
		WriteTimeout:      p.opts.WriteTimeout,
		IdleTimeout:       p.opts.IdleTimeout,
		MaxHeaderBytes:    p.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(p.opts.ErrorLog.Handler(), slog.LevelDebug),
	}
	if cfg != nil {
		srv.TLSConfig = cfg.Clone()
	} else if p.opts.H2C {
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true)
		srv.Protocols = &protos
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return nil
	}
	p.servers[srv] = cfg == nil
	return srv
}

func (p *Proxy) untrack(srv *http.Server) {
	p.mu.Lock()
	delete(p.servers, srv)
	p.mu.Unlock()
}

// Shutdown stops accepting connections and waits, up to ctx, for requests
// in flight to finish, as http.Server.Shutdown: idle connections are
// closed at once, busy ones after their response. It does not close the
// table.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.shutdown = true
	p.draining.Store(true)
	var servers, fallbacks []*http.Server
	for s, fallback := range p.servers {
		if fallback {
			fallbacks = append(fallbacks, s)
		} else {
			servers = append(servers, s)
		}
	}
	for ln := range p.listeners {
		_ = ln.Close()
	}
	p.mu.Unlock()
	errc := make(chan error, len(servers)+len(fallbacks))
	shutdown := func(s *http.Server) { errc <- s.Shutdown(ctx) }
	for _, s := range servers {
		go shutdown(s)
	}
	// Fast-path connections: poll as http.Server.Shutdown does.
	var errs []error
	var ctxErr error
	wait := time.Millisecond
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for ctxErr == nil && !p.closeIdleConns() {
		select {
		case <-ctx.Done():
			ctxErr = ctx.Err()
		case <-timer.C:
			if wait < 500*time.Millisecond {
				wait *= 2
			}
			timer.Reset(wait)
		}
	}
	// The fallback servers go last: until the fast path's connections
	// are done, one may still be handed over (a new connection's first
	// request in HTTP/1.0, an upgrade), and is served.
	for _, s := range fallbacks {
		go shutdown(s)
	}
	for range len(servers) + len(fallbacks) {
		if err := <-errc; err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				ctxErr = err
			} else {
				errs = append(errs, err)
			}
		}
	}
	if ctxErr != nil {
		errs = append(errs, ctxErr)
	}
	return errors.Join(errs...)
}
