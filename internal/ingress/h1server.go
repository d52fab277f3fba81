package ingress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/internal/ingress/h2serve"
)

// The fast path: Serve accepts client connections itself and serves
// HTTP/1.1 on them with its own parser (h1head.go) and forwarder
// (h1forward.go), over raw keep-alive connections to the backends
// (backendconn.go), one goroutine per client connection and none per
// request. A request the fast path does not take (see reqHead.parse) is
// handed over, with its connection and the bytes already read, to a
// net/http server running the Proxy as its handler: the connection then
// stays with net/http until it closes.

// Connection states, for Shutdown.
const (
	connIdle   int32 = iota // waiting for a request
	connActive              // serving a request
	connClosed              // closed by Shutdown while idle
	connNew                 // accepted, no request yet
)

// newConnGrace is how long Shutdown lets a new connection send its first
// request before closing it, as net/http (5s).
const newConnGrace = 5 * time.Second

// fconn is one client connection on the fast path.
type fconn struct {
	p        *Proxy
	hl       *handoffListener
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	state    atomic.Int32
	accepted time.Time
	remote   string
	// clientIP and trusted are the peer's address and whether it is in
	// Options.TrustedProxies.
	clientIP string
	trusted  bool

	head  []byte // the current request head
	req   reqHead
	out   []byte // the outbound request head
	resp  respHead
	tried [4]*backend
	// bodyDone is set once the request body has been read whole from
	// the client (or there is none): the connection can carry another
	// request.
	bodyDone bool
	// closeAfter closes the connection after the current response.
	closeAfter bool
	first      bool
	copyDone   chan copyResult
	rw         relayWatch // bconn.rw during a relay
	// handedOff is set when handle gave the connection to net/http.
	handedOff bool
	// mreq is the request as a router's middlewares left it while it
	// is forwarded (h1middleware.go); nil otherwise.
	mreq *http.Request
	call routeCall  // serveMiddlewares'
	fw   fastWriter // serveMiddlewares'

	// cfg is set on ServeTLS's connections, which serve starts with a
	// handshake (h1tls.go); then c is the *tls.Conn, raw the TCP
	// connection under it, and tls its state.
	cfg *tls.Config
	raw net.Conn
	tls *tls.ConnectionState
	// tlsOpt are the TLS options the handshake got, as they were then;
	// nil without TLS options (tlsselect.go).
	tlsOpt *TLSOption
	// h2 is the HTTP/2 connection a ServeTLS connection became, for
	// Shutdown (h2tls.go).
	h2 atomic.Pointer[h2serve.Conn]
}

var (
	clientReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	clientWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// Serve accepts HTTP connections on ln until Shutdown; it returns
// http.ErrServerClosed then. HTTP/1.1 is served by the fast path;
// everything else (HTTP/1.0, upgrades, h2c with Options.H2C, requests
// outside the fast path's subset) by net/http, as by ServeTLS.
func (p *Proxy) Serve(ln net.Listener) error { return p.serve(ln, nil) }

// serve is Serve, and ServeTLS with cfg (h1tls.go).
func (p *Proxy) serve(ln net.Listener, cfg *tls.Config) error {
	fb := p.newServer(cfg)
	if fb == nil {
		return http.ErrServerClosed
	}
	defer p.untrack(fb)
	if cfg != nil {
		p.tlsHandoffHooks(fb)
		// The handshakes' own copy: fb.Serve may still set up HTTP/2 in
		// fb.TLSConfig while they run.
		cfg = p.withTLSOptions(fb.TLSConfig.Clone())
	}
	hl := newHandoffListener(ln.Addr())
	fbDone := make(chan struct{})
	go func() {
		defer close(fbDone)
		_ = fb.Serve(hl)
	}()
	defer func() {
		if p.draining.Load() {
			// Shutdown stops fb once the fast path's connections,
			// which may still hand one over, are done.
			return
		}
		_ = hl.Close()
		<-fbDone
	}()
	if !p.trackListener(ln, true) {
		return http.ErrServerClosed
	}
	defer p.trackListener(ln, false)

	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if p.draining.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				// Out of file descriptors and the like: wait, as
				// net/http does.
				if backoff == 0 {
					backoff = 5 * time.Millisecond
				} else if backoff *= 2; backoff > time.Second {
					backoff = time.Second
				}
				p.opts.ErrorLog.Warn("ingress: accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !p.clients.Admit() {
			_ = c.Close()
			continue
		}
		fc := p.newConn(c, hl)
		fc.cfg = cfg
		if !p.trackConn(fc, true) {
			_ = c.Close()
			p.clients.Release()
			continue
		}
		go fc.serve()
	}
}

func (p *Proxy) trackListener(ln net.Listener, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.listeners, ln)
		return true
	}
	if p.shutdown {
		return false
	}
	p.listeners[ln] = struct{}{}
	return true
}

func (p *Proxy) trackConn(c *fconn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !add {
		delete(p.conns, c)
		return true
	}
	if p.shutdown {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// closeIdleConns closes the fast-path connections waiting for a request
// and reports whether none is left.
func (p *Proxy) closeIdleConns() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if h := c.h2.Load(); h != nil {
			h.Shutdown() // GOAWAY; it closes once its streams are done
			continue
		}
		if c.state.CompareAndSwap(connIdle, connClosed) ||
			(time.Since(c.accepted) > newConnGrace && c.state.CompareAndSwap(connNew, connClosed)) {
			_ = c.c.Close()
		}
	}
	return len(p.conns) == 0
}

func (p *Proxy) newConn(c net.Conn, hl *handoffListener) *fconn {
	fc := &fconn{p: p, hl: hl, c: c, first: true, accepted: time.Now()}
	fc.state.Store(connNew)
	fc.remote = c.RemoteAddr().String()
	fc.clientIP = fc.remote
	if h, _, err := net.SplitHostPort(fc.remote); err == nil {
		fc.clientIP = h
	}
	fc.trusted = p.trusted(fc.clientIP)
	return fc
}

// serve runs the connection's requests one after another.
func (c *fconn) serve() {
	if c.cfg != nil {
		switch c.handshake() {
		case tlsFailed:
			_ = c.c.Close()
			c.p.clients.Release()
			c.p.trackConn(c, false)
			return
		case tlsH2:
			c.serveH2()
			_ = c.c.Close()
			c.p.clients.Release()
			c.p.trackConn(c, false)
			return
		}
	}
	c.br = clientReaders.Get().(*bufio.Reader)
	c.br.Reset(c.c)
	c.bw = clientWriters.Get().(*bufio.Writer)
	c.bw.Reset(c.c)
	handedOff := false
	defer func() {
		v := recover()
		if !handedOff {
			_ = c.c.Close()
			c.p.clients.Release()
		}
		c.p.trackConn(c, false)
		if v != nil {
			// As net/http's server: a bug costs the connection, not the
			// process. The buffers are dropped: a body copy may still
			// hold the reader.
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.p.opts.ErrorLog.Error("ingress: panic serving a connection", "client", c.remote, "panic", v, "stack", string(buf))
			return
		}
		c.br.Reset(nil)
		clientReaders.Put(c.br)
		c.bw.Reset(nil)
		clientWriters.Put(c.bw)
	}()
	opts := &c.p.opts
	for {
		// Wait for the next request: ReadHeaderTimeout for the first,
		// IdleTimeout between requests.
		if c.br.Buffered() == 0 {
			wait := opts.IdleTimeout
			if c.first {
				wait = c.p.headerTimeout
			}
			_ = c.c.SetReadDeadline(time.Now().Add(wait))
			if _, err := c.br.Peek(1); err != nil {
				return
			}
		}
		if !c.state.CompareAndSwap(connIdle, connActive) && !c.state.CompareAndSwap(connNew, connActive) {
			return // closed by Shutdown
		}
		first := c.first
		c.first = false
		if b, _ := c.br.Peek(1); b[0] == 0x16 && c.tls == nil {
			// A TLS handshake: net/http answers it.
			handedOff = c.handoff(nil)
			return
		}
		// The head has ReadHeaderTimeout from its first byte, but the
		// first one from the connection's start, which set the deadline.
		if !first && !headEnd(c.peekBuffered()) {
			_ = c.c.SetReadDeadline(time.Now().Add(c.p.headerTimeout))
		}
		var err error
		c.head, err = readHead(c.br, c.head, opts.MaxHeaderBytes+4096)
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				c.headTooLarge()
			}
			return
		}
		c.req.reset()
		c.req.remoteAddr = c.remote
		c.req.tls = c.tls != nil
		if !c.req.parse(string(c.head)) {
			handedOff = c.handoff(c.head)
			return
		}
		if !c.handle() {
			handedOff = c.handedOff
			return
		}
		if cap(c.head) > 64<<10 {
			c.head = nil // a huge head's buffer is not kept for the next
		}
		if cap(c.out) > 64<<10 {
			c.out = nil
		}
		c.state.Store(connIdle)
		if c.p.draining.Load() && c.state.CompareAndSwap(connIdle, connClosed) {
			return
		}
	}
}

// headTooLarge answers 431 as net/http does, then closes the connection
// after reading what the client still sends for a moment, so that the
// answer is not lost to a reset.
func (c *fconn) headTooLarge() {
	const publicErr = "431 Request Header Fields Too Large"
	_, _ = c.bw.WriteString("HTTP/1.1 " + publicErr + "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" + publicErr)
	if c.bw.Flush() != nil {
		return
	}
	if cw, ok := c.c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 4096)
	for total := 0; total < 256<<10; {
		n, err := c.c.Read(buf)
		total += n
		if err != nil {
			return
		}
	}
}

// handle serves one parsed request; false closes the connection.
func (c *fconn) handle() bool {
	p := c.p
	r := &c.req
	start := time.Now()
	c.closeAfter = r.close || p.draining.Load()
	c.bodyDone = r.contentLength == 0 && !r.chunked
	if d := p.opts.WriteTimeout; d > 0 {
		_ = c.c.SetWriteDeadline(start.Add(d))
	}
	if err := r.cleanPath(p.paths); err != nil {
		c.finishUnread()
		c.writeError(http.StatusBadRequest, "400 Bad Request: "+err.Error())
		p.entry.reqs.observe(http.StatusBadRequest, methodIndex(r.method), headProto(r), time.Since(start))
		c.accessLog(nil, nil, 0, http.StatusBadRequest, 0, start)
		return c.flushEnd()
	}
	if c.tls != nil && p.misdirected(c.tls.ServerName, r.host) {
		c.finishUnread()
		c.writeError(http.StatusMisdirectedRequest, misdirectedMessage)
		p.entry.reqs.observe(http.StatusMisdirectedRequest, methodIndex(r.method), headProto(r), time.Since(start))
		c.accessLog(nil, nil, 0, http.StatusMisdirectedRequest, 0, start)
		return c.flushEnd()
	}
	rt := p.matchHead(r)
	if rt == nil {
		p.table.stats.unrouted.Add(1)
		c.finishUnread()
		c.writeError(http.StatusNotFound, "404 page not found")
		p.entry.reqs.observe(http.StatusNotFound, methodIndex(r.method), headProto(r), time.Since(start))
		c.accessLog(nil, nil, 0, http.StatusNotFound, 0, start)
		return c.flushEnd()
	}
	if c.tls != nil && p.routeMisdirected(c.tlsOpt, c.tls, rt) {
		c.finishUnread()
		c.writeError(http.StatusMisdirectedRequest, misdirectedMessage)
		d := time.Since(start)
		meth, proto := methodIndex(r.method), headProto(r)
		rt.stats.reqs.observe(http.StatusMisdirectedRequest, meth, proto, d)
		p.entry.reqs.observe(http.StatusMisdirectedRequest, meth, proto, d)
		c.accessLog(rt, nil, 0, http.StatusMisdirectedRequest, 0, start)
		return c.flushEnd()
	}
	switch {
	case rt.refused != "":
		c.finishUnread()
		c.writeError(http.StatusServiceUnavailable, rt.refused)
		d := time.Since(start)
		meth, proto := methodIndex(r.method), headProto(r)
		rt.stats.reqs.observe(http.StatusServiceUnavailable, meth, proto, d)
		p.entry.reqs.observe(http.StatusServiceUnavailable, meth, proto, d)
		c.accessLog(rt, nil, 0, http.StatusServiceUnavailable, 0, start)
		return c.flushEnd()
	case rt.handler != nil && (!rt.rule.fastMW || p.slowMiddlewares), rt.pool.lb.Scheme == "h2c", rt.internal:
		// These middlewares (or an h2c backend, or the node's
		// dashboard) are served by the net/http path: the request,
		// still unanswered and its body unread, is handed over with its
		// connection (the next requests on it stay there too).
		c.handedOff = c.handoff(c.head)
		return false
	}
	// Classified before forwarding: r's strings live in the head buffer.
	meth, proto := methodIndex(r.method), headProto(r)
	pl := rt.pool
	var status int
	var chosen *backend
	var retries int
	var bytes int64
	switch {
	case rt.handler != nil:
		// Middlewares that act on the request alone (h1middleware.go).
		status, chosen, retries, bytes = c.serveMiddlewares(rt)
	case !pl.anyHealthy():
		pl.stats.noBackend.Add(1)
		c.finishUnread()
		status = http.StatusServiceUnavailable
		c.writeError(status, noBackendMessage(pl))
	case p.opts.MaxBodyBytes > 0 && r.contentLength > p.opts.MaxBodyBytes:
		c.finishUnread()
		status = http.StatusRequestEntityTooLarge
		c.writeError(status, "413 request body too large")
	default:
		if !c.bodyDone {
			// The body has until ReadTimeout (none when disabled: not
			// the head's deadline either).
			var deadline time.Time
			if p.opts.ReadTimeout > 0 {
				deadline = start.Add(p.opts.ReadTimeout)
			}
			_ = c.c.SetReadDeadline(deadline)
		}
		status, chosen, retries, bytes = c.forward(pl, pl.stickyHead(r))
	}
	d := time.Since(start)
	rt.stats.reqs.observe(status, meth, proto, d)
	pl.stats.reqs.observe(status, meth, proto, d)
	p.entry.reqs.observe(status, meth, proto, d)
	c.accessLog(rt, chosen, retries, status, bytes, start)
	return c.flushEnd()
}

// flushEnd ends a response: it flushes it and reports whether the
// connection carries on.
func (c *fconn) flushEnd() bool {
	if c.bw.Flush() != nil {
		return false
	}
	return !c.closeAfter && c.bodyDone
}

// finishUnread reads a request body that is not forwarded when it is
// already buffered whole; otherwise the connection closes after the
// answer.
func (c *fconn) finishUnread() {
	r := &c.req
	if c.bodyDone {
		return
	}
	if !r.chunked && int64(c.br.Buffered()) >= r.contentLength {
		_, _ = c.br.Discard(int(r.contentLength))
		c.bodyDone = true
		return
	}
	c.closeAfter = true
}

// matchHead is match for the fast path's requests.
func (p *Proxy) matchHead(r *reqHead) *route {
	for _, rt := range p.table.snap.Load().routes {
		// A TLS router takes only ServeTLS's requests, the others only
		// Serve's, as on the net/http path.
		if rt.refused == "" && (rt.rule.TLS != r.tls ||
			len(rt.entryPoints) > 0 && p.opts.EntryPoint != "" && !containsFold(rt.entryPoints, p.opts.EntryPoint)) {
			continue
		}
		if rt.rule.Rule.MatchRequest(r) {
			return rt
		}
	}
	return nil
}

func noBackendMessage(pl *pool) string {
	return fmt.Sprintf("503 Service Unavailable: no healthy task of service %s", pl.service)
}

// writeError writes a short plain-text answer as http.Error does.
func (c *fconn) writeError(code int, msg string) {
	w := c.bw
	_, _ = w.WriteString("HTTP/1.1 ")
	_, _ = w.WriteString(strconv.Itoa(code))
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(statusText(code))
	_, _ = w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nDate: ")
	_, _ = w.WriteString(time.Now().UTC().Format(http.TimeFormat))
	_, _ = w.WriteString("\r\nContent-Length: ")
	_, _ = w.WriteString(strconv.Itoa(len(msg) + 1))
	if c.p.draining.Load() {
		c.closeAfter = true
	}
	if c.closeAfter || !c.bodyDone {
		_, _ = w.WriteString("\r\nConnection: close")
	}
	_, _ = w.WriteString("\r\n\r\n")
	if c.req.method != http.MethodHead {
		_, _ = w.WriteString(msg)
		_ = w.WriteByte('\n')
	}
}

func statusText(code int) string {
	if code == 499 {
		return "Client Closed Request"
	}
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "status code " + strconv.Itoa(code)
}

func (c *fconn) accessLog(rt *route, chosen *backend, retries, status int, bytes int64, start time.Time) {
	log := c.p.opts.AccessLog
	if log == nil {
		return
	}
	r := &c.req
	attrs := []slog.Attr{
		slog.String("client", c.remote),
		slog.String("method", r.method),
		slog.String("host", r.host),
		slog.String("uri", r.target),
		slog.String("proto", "HTTP/1.1"),
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Duration("duration", time.Since(start)),
	}
	if rt != nil {
		attrs = append(attrs, slog.String("router", rt.key), slog.String("service", rt.service+"/"+rt.rule.Service))
	}
	if chosen != nil {
		attrs = append(attrs, slog.String("task", chosen.taskID), slog.String("backend", chosen.addr))
	}
	if retries > 0 {
		attrs = append(attrs, slog.Int("retries", retries))
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
}
