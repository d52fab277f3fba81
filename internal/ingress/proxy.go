package ingress

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/internal/connlimit"
	"github.com/shoalproject/shoal/internal/ingress/h2serve"
)

// Options configure a Proxy. The zero value is usable.
type Options struct {
	// EntryPoint names the entry point this proxy serves: routers that
	// list entry points take requests only on those they name. Empty
	// serves every router.
	EntryPoint string

	// ReadHeaderTimeout bounds reading a request's headers (default 10s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (default
	// 60s, Traefik's); negative disables.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response; 0 (default) disables it, as
	// Traefik, so streams and downloads are not cut off.
	WriteTimeout time.Duration
	// IdleTimeout closes a client keep-alive connection idle this long
	// (default 180s, Traefik's).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default 1 MiB).
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request's body; a larger one is answered 413.
	// 0 (default) is unbounded.
	MaxBodyBytes int64
	// MaxConns bounds the client connections open at once, over Serve
	// and ServeTLS; one past it is closed as soon as it is accepted (see
	// connlimit.go). 0 (default) is unbounded.
	MaxConns int
	// H2C serves HTTP/2 without TLS (prior knowledge) next to HTTP/1.1 on
	// Serve. Off by default: cleartext HTTP/2 is for trusted networks
	// behind another proxy. ServeTLS always offers HTTP/2.
	H2C bool

	// MaxAttempts bounds the attempts of one request, each on a different
	// backend (default 3).
	MaxAttempts int
	// TrustedProxies are the peers whose X-Forwarded-* headers are kept
	// and appended to; others' are replaced (Traefik's forwardedHeaders
	// .trustedIPs; default none).
	TrustedProxies []netip.Prefix
	// AllowEncodedSlash lets a request path hold an encoded slash (%2F),
	// sent on encoded and routed as part of its segment (Traefik's entry
	// point option http.encodedCharacters.allowEncodedSlash). Off by
	// default: such a request is answered 400, since a backend that
	// decodes %2F before it splits the path would see segments, and
	// "..", that routing never matched (see path.go).
	AllowEncodedSlash bool
	// AllowEncodedBackslash is the same for %5C and a raw backslash
	// (sent on as %5C), which Windows servers take for a separator.
	AllowEncodedBackslash bool

	// AccessLog, when set, logs every request at Info level. Off by
	// default.
	AccessLog *slog.Logger
	// ErrorLog receives proxy errors; nil uses slog.Default().
	ErrorLog *slog.Logger
}

func (o *Options) setDefaults() {
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 60 * time.Second
	} else if o.ReadTimeout < 0 {
		o.ReadTimeout = 0
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 180 * time.Second
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = 1 << 20
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.ErrorLog == nil {
		o.ErrorLog = slog.Default()
	}
}

// Proxy is the ingress HTTP entry point: it matches each request against
// the routers of a Table, highest priority first, and forwards it to a
// healthy task of the router's service, honouring sticky cookies. It
// answers 404 when no router matches and 503 when the service has no
// healthy task.
//
// Serve serves HTTP/1.1 on its own fast path (see the package
// documentation) and hands everything else to net/http: the Proxy's
// ServeHTTP, which proxies with net/http/httputil.ReverseProxy (protocol
// upgrades such as WebSocket tunnelled, streaming responses flushed as
// they arrive). ServeTLS serves HTTP/1.1 over TLS the same way, and
// HTTP/2 with the ingress's own server (h2serve), which runs ServeHTTP
// for each stream. Clients get HTTP/1.1 with keep-alive, HTTP/2 over
// TLS or, with Options.H2C, in cleartext (net/http). Backends are
// spoken to in HTTP/1.1 with keep-alive, or h2c.
type Proxy struct {
	table    *Table
	opts     Options
	rp       *httputil.ReverseProxy
	hostname string
	// paths is the request path rule both request paths apply.
	paths pathRule

	// slowMiddlewares hands every router with middlewares to the net/http
	// path (tests compare both paths' answers).
	slowMiddlewares bool
	// noH2Fast sends every HTTP/2 request forwardFast would take to
	// forwardLean (tests compare both); h2fast counts those it took.
	noH2Fast bool
	h2fast   atomic.Uint64
	// headerTimeout bounds reading a request head on the fast path:
	// ReadHeaderTimeout, or ReadTimeout when shorter, as net/http.
	headerTimeout time.Duration

	mu sync.Mutex
	// servers maps each net/http server to whether it is a Serve's
	// fallback (fed by the fast path's handoffs).
	servers   map[*http.Server]bool
	listeners map[net.Listener]struct{}
	conns     map[*fconn]struct{}
	shutdown  bool
	// draining is set by Shutdown: fast-path connections close once
	// their request is answered.
	draining atomic.Bool
	// handoffs counts connections handed to net/http (for tests).
	handoffs atomic.Uint64
	// clients counts client connections against Options.MaxConns
	// (connlimit.go).
	clients connlimit.Limiter
	// entry counts the requests of the proxy's entry point.
	entry *entryStats

	h2once sync.Once
	// tlsChosen holds the TLS options GetConfigForClient chose for a
	// handshake, by its raw connection, until the handshake returns
	// (tlsselect.go).
	tlsChosen sync.Map
	h2cfg     *h2serve.Config
}

// NewProxy returns a proxy routing with t.
func NewProxy(t *Table, opts Options) *Proxy {
	opts.setDefaults()
	p := &Proxy{
		table: t, opts: opts, servers: map[*http.Server]bool{},
		listeners: map[net.Listener]struct{}{}, conns: map[*fconn]struct{}{},
	}
	p.headerTimeout = opts.ReadHeaderTimeout
	if opts.ReadTimeout > 0 && opts.ReadTimeout < p.headerTimeout {
		p.headerTimeout = opts.ReadTimeout
	}
	// X-Forwarded-Server names this node; without a name, Traefik's
	// "localhost" (a client's own must never pass instead).
	if h, err := os.Hostname(); err == nil && h != "" {
		p.hostname = h
	} else {
		p.hostname = "localhost"
	}
	p.paths = pathRule{allowSlash: opts.AllowEncodedSlash, allowBackslash: opts.AllowEncodedBackslash}
	p.clients.Max, p.clients.Log, p.clients.Name = opts.MaxConns, opts.ErrorLog, "ingress"
	ep := opts.EntryPoint
	if ep == "" {
		ep = EntryPointWeb
	}
	p.entry = t.stats.entryPoint(ep, &p.clients)
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &forwarder{maxAttempts: opts.MaxAttempts, ejectTime: t.opts.EjectTime},
		FlushInterval:  0,
		ErrorHandler:   p.proxyError,
		ModifyResponse: p.modifyResponse,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(opts.ErrorLog.Handler(), slog.LevelWarn),
	}
	return p
}

// Stats returns a snapshot of the request and connection counters.
func (p *Proxy) Stats() Stats {
	s := p.table.Stats()
	s.OpenConns = p.clients.Open()
	s.RefusedConns = p.clients.Refused()
	return s
}

// ServeHTTP routes and forwards one request, through its router's
// middlewares when it has any.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, closeConn: uncheckedFraming(r)}
	meth, proto := methodIndex(r.Method), requestProto(r)
	r, err := p.paths.cleanRequest(r)
	if err != nil {
		http.Error(rec, "400 Bad Request: "+err.Error(), http.StatusBadRequest)
		p.entry.reqs.observe(http.StatusBadRequest, meth, proto, time.Since(start))
		p.accessLog(r, nil, nil, http.StatusBadRequest, 0, start)
		return
	}
	if r.TLS != nil && p.misdirected(r.TLS.ServerName, r.Host) {
		serveMisdirected(rec)
		p.entry.reqs.observe(http.StatusMisdirectedRequest, meth, proto, time.Since(start))
		p.accessLog(r, nil, nil, http.StatusMisdirectedRequest, 0, start)
		return
	}
	rt := p.match(r)
	if rt == nil {
		p.table.stats.unrouted.Add(1)
		http.Error(rec, "404 page not found", http.StatusNotFound)
		p.entry.reqs.observe(http.StatusNotFound, meth, proto, time.Since(start))
		p.accessLog(r, nil, nil, http.StatusNotFound, 0, start)
		return
	}
	if r.TLS != nil && p.routeMisdirected(connTLSOption(r.Context()), r.TLS, rt) {
		serveMisdirected(rec)
		rt.stats.reqs.observe(http.StatusMisdirectedRequest, meth, proto, time.Since(start))
		p.entry.reqs.observe(http.StatusMisdirectedRequest, meth, proto, time.Since(start))
		p.accessLog(r, rt, nil, http.StatusMisdirectedRequest, 0, start)
		return
	}
	if rt.refused != "" {
		http.Error(rec, rt.refused, http.StatusServiceUnavailable)
		d := time.Since(start)
		rt.stats.reqs.observe(http.StatusServiceUnavailable, meth, proto, d)
		p.entry.reqs.observe(http.StatusServiceUnavailable, meth, proto, d)
		p.accessLog(r, rt, nil, http.StatusServiceUnavailable, rec.bytes, start)
		return
	}
	if _, ok := r.Header["Connection"]; ok {
		keepForwarding(r.Header)
	}
	pl := rt.pool
	st := getState(pl)
	defer putState(st)
	if rt.handler == nil {
		p.forwardRoute(rec, r, rt, st)
	} else {
		// As Traefik's entry points: the X-Forwarded-* headers are set
		// before the middlewares, which see them and may change them
		// (stripprefix sets X-Forwarded-Prefix, removed before from a
		// client that is not a trusted proxy).
		p.forwardedHeaders(r, r.Header, false)
		st.forwarded = true
		call := &routeCall{p: p, rt: rt, st: st}
		rt.handler.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeKey{}, call)))
	}
	status := rec.status
	if status == 0 {
		status = st.status
	}
	if status == 0 {
		status = http.StatusOK
	}
	d := time.Since(start)
	rt.stats.reqs.observe(status, meth, proto, d)
	pl.stats.reqs.observe(status, meth, proto, d)
	p.entry.reqs.observe(status, meth, proto, d)
	p.accessLog(r, rt, st, status, rec.bytes, start)
}

// match returns the first route, in priority order, whose rule matches.
func (p *Proxy) match(r *http.Request) *route {
	for _, rt := range p.table.snap.Load().routes {
		// A refused router answers on every entry point: its 503 says why.
		if rt.refused == "" && (rt.rule.TLS != (r.TLS != nil) ||
			len(rt.entryPoints) > 0 && p.opts.EntryPoint != "" && !containsFold(rt.entryPoints, p.opts.EntryPoint)) {
			continue
		}
		if rt.rule.Rule.Match(r) {
			return rt
		}
	}
	return nil
}

func containsFold(xs []string, s string) bool {
	for _, x := range xs {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (p *Proxy) noBackend(w http.ResponseWriter, pl *pool) {
	http.Error(w, noBackendMessage(pl), http.StatusServiceUnavailable)
}

// modifyResponse pins the client to the backend that answered when the
// service is sticky and the request's cookie did not already name it.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	p.modifyState(stateFrom(resp.Request.Context()), resp)
	return nil
}

// modifyState is modifyResponse with the request's state.
func (p *Proxy) modifyState(st *reqState, resp *http.Response) {
	if st == nil || st.chosen == nil {
		return
	}
	st.status = resp.StatusCode
	if st.pool.lb.Sticky != nil && st.chosen != st.preferred {
		resp.Header.Add("Set-Cookie", stickyCookie(st.pool.lb.Sticky, st.chosen).String())
	}
}

// proxyError answers a request that could not be forwarded.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	p.proxyErrorState(w, r, stateFrom(r.Context()), err)
}

// proxyErrorState is proxyError with the request's state.
func (p *Proxy) proxyErrorState(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errNoBackend):
		st.pool.stats.noBackend.Add(1)
		p.noBackend(w, st.pool)
	case errors.As(err, &mbe):
		http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer. 499 as Traefik
		// and nginx log it.
		w.WriteHeader(499)
	case isTimeout(err):
		st.pool.stats.errors.Add(1)
		p.opts.ErrorLog.Warn("ingress: backend timed out", "service", st.pool.service, "err", err)
		http.Error(w, "504 Gateway Timeout", http.StatusGatewayTimeout)
	default:
		st.pool.stats.errors.Add(1)
		p.opts.ErrorLog.Warn("ingress: backend request failed", "service", st.pool.service, "err", err)
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
	}
}

func (p *Proxy) accessLog(r *http.Request, rt *route, st *reqState, status int, bytes int64, start time.Time) {
	if p.opts.AccessLog == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("client", r.RemoteAddr),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("uri", r.RequestURI),
		slog.String("proto", r.Proto),
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Duration("duration", time.Since(start)),
	}
	if rt != nil {
		attrs = append(attrs, slog.String("router", rt.key), slog.String("service", rt.service+"/"+rt.rule.Service))
	}
	if st != nil && st.chosen != nil {
		attrs = append(attrs, slog.String("task", st.chosen.taskID), slog.String("backend", st.chosen.addr))
	}
	if st != nil && st.retries > 0 {
		attrs = append(attrs, slog.Int("retries", st.retries))
	}
	p.opts.AccessLog.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// uncheckedFraming reports whether r's body framing may have been
// ambiguous on the wire, so that its connection must close after the
// response (RFC 9112 section 6.1, as HAProxy does): net/http removes a
// Content-Length sent with Transfer-Encoding (the encoding wins) before
// the handler runs, so a chunked HTTP/1.1 request cannot be told from
// one that had both; and it ignores Transfer-Encoding in HTTP/1.0, so an
// HTTP/1.0 request with a body cannot be told from one that had it. The
// fast path hands such requests over here, and closes nothing itself.
func uncheckedFraming(r *http.Request) bool {
	if r.ProtoMajor != 1 {
		return false // HTTP/2 frames bodies itself
	}
	return len(r.TransferEncoding) > 0 || (r.ProtoMinor == 0 && r.ContentLength != 0)
}

// recorder notes the status and size of a response; Unwrap lets
// http.ResponseController reach Flush and Hijack underneath. With
// closeConn, the final response says Connection: close, which makes
// net/http close the connection after it (set on the final response
// only: ReverseProxy clears the header map after relaying a 1xx).
type recorder struct {
	http.ResponseWriter
	status    int
	bytes     int64
	closeConn bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
		r.final()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
		r.final()
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Flush() {
	if r.status == 0 {
		r.final() // flushing sends a 200 head
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// final is called as the final response's head is about to be written.
func (r *recorder) final() {
	if r.closeConn {
		r.Header().Set("Connection", "close")
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// bufferPool recycles ReverseProxy's copy buffers.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(copyBuffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { copyBuffers.Put(&b) }
