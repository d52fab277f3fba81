package ingress

import (
	"context"

	"github.com/shoalproject/shoal/internal/ingress/h2serve"
)

// HTTP/2 over TLS: a ServeTLS connection that negotiated h2 by ALPN is
// served by h2serve on the connection's goroutine, each request by
// Proxy.ServeHTTP (routing, middlewares, the forward); see
// h2serve's package documentation for the server and its limits.

// serveH2 serves c, whose handshake negotiated h2, until it closes.
func (c *fconn) serveH2() {
	p := c.p
	c.state.Store(connActive)
	info := h2serve.ConnInfo{RemoteAddr: c.remote, TLS: c.tls}
	if c.tlsOpt != nil {
		info.Context = withConnTLSOption(context.Background(), c.tlsOpt)
	}
	hc := h2serve.NewConn(c.c, p.h2Config(), p, info)
	c.h2.Store(hc)
	if p.draining.Load() {
		hc.Shutdown()
	}
	_ = hc.Serve()
}

// h2Config is the HTTP/2 server's configuration from Options: the same
// limits as HTTP/1.1's (MaxHeaderBytes with net/http's 4 KiB slack,
// ReadHeaderTimeout for the preface, IdleTimeout, ReadTimeout for a
// body) and WriteTimeout, when set, as the deadline of each write.
func (p *Proxy) h2Config() *h2serve.Config {
	p.h2once.Do(func() {
		o := &p.opts
		p.h2cfg = &h2serve.Config{
			MaxHeaderListSize: uint32(o.MaxHeaderBytes + 4096),
			PrefaceTimeout:    p.headerTimeout,
			IdleTimeout:       o.IdleTimeout,
			ReadTimeout:       o.ReadTimeout,
			WriteTimeout:      o.WriteTimeout,
			ErrorLog:          o.ErrorLog,
		}
	})
	return p.h2cfg
}
