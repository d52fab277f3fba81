package ingress

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Middlewares on the fast path. A router whose middlewares all act on
// the request alone (middleware.RequestOnly: basicauth, headers with
// custom request headers, the path middlewares, redirects, ipallowlist,
// ratelimit, inflightreq) is served here rather than handed to net/http:
// the parsed head becomes the *http.Request the middlewares take, the
// same handler chain as the net/http path's runs on it, and its
// terminal (routeTerminal) forwards the request as they left it through
// the raw forwarder. A middleware that answers itself (401, a redirect,
// 429, 403) writes to a fastWriter, which sends the answer as
// net/http's server would.

// serveMiddlewares runs rt's middlewares on the current request and
// forwards it or sends their answer; it returns what handle records.
func (c *fconn) serveMiddlewares(rt *route) (status int, chosen *backend, retries int, n int64) {
	p := c.p
	req, err := c.middlewareRequest()
	if err != nil {
		c.finishUnread()
		c.writeError(http.StatusBadRequest, "400 Bad Request: "+err.Error())
		return http.StatusBadRequest, nil, 0, 0
	}
	// As ServeHTTP: X-Forwarded-* before the middlewares (a client's
	// X-Forwarded-Prefix only from a trusted proxy).
	p.forwardedHeaders(req, req.Header, false)
	if c.req.connTokens {
		keepForwarding(req.Header)
	}
	// Both are the connection's, reused from request to request.
	call := &c.call
	*call = routeCall{p: p, rt: rt, fc: c}
	fw := &c.fw
	*fw = fastWriter{c: c, body: fw.body[:0]}
	rt.handler.ServeHTTP(fw, req.WithContext(context.WithValue(context.Background(), routeKey{}, call)))
	if call.forwarded {
		return call.status, call.chosen, call.retries, call.n
	}
	return fw.finish(), nil, 0, int64(len(fw.body))
}

// middlewareRequest is the current request as net/http's server gives
// it to a handler, with the path already cleaned as cleanRequest does.
func (c *fconn) middlewareRequest() (*http.Request, error) {
	r := &c.req
	u, err := url.ParseRequestURI(r.target)
	if err != nil {
		return nil, err
	}
	sent := u.RawPath
	if sent == "" {
		sent = u.EscapedPath()
	}
	if sent != r.path {
		setPath(u, r.path)
	}
	h := make(http.Header, len(r.fields))
	vals := make([]string, len(r.fields)) // the values' one backing array
	for i := range r.fields {
		f := &r.fields[i]
		if f.kind == kindHost {
			continue
		}
		k := http.CanonicalHeaderKey(f.name)
		vals[i] = f.value
		if prev := h[k]; prev != nil {
			h[k] = append(prev, f.value)
		} else {
			h[k] = vals[i : i+1 : i+1]
		}
	}
	req := &http.Request{Method: r.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: r.host, RemoteAddr: c.remote, RequestURI: r.target, TLS: c.tls,
		ContentLength: r.contentLength, Body: http.NoBody, Close: r.close}
	if r.chunked {
		req.TransferEncoding = []string{"chunked"}
		req.ContentLength = -1
	}
	return req, nil
}

// forwardFast is routeTerminal on the fast path: as forwardRoute, for
// the request r the middlewares left.
func (c *fconn) forwardFast(w http.ResponseWriter, r *http.Request, call *routeCall) {
	p := c.p
	if fw, ok := w.(*fastWriter); !ok || fw.c != c || fw.code != 0 {
		// A middleware wrapped the writer or wrote: RequestOnly let in one
		// that does not act on the request alone. Nothing is forwarded.
		p.opts.ErrorLog.Error("ingress: a middleware the fast path runs needs the net/http path", "router", call.rt.key)
		http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
		return
	}
	pl := call.rt.pool
	switch {
	case p.unservable(w, r, pl):
	case !sendable(r, pl):
		// net/http's transport refuses such a request before sending it.
		pl.stats.errors.Add(1)
		p.opts.ErrorLog.Warn("ingress: backend request failed", "service", pl.service, "err", "invalid header field or host")
		http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
	default:
		if !c.bodyDone {
			var deadline time.Time
			if p.opts.ReadTimeout > 0 {
				deadline = time.Now().Add(p.opts.ReadTimeout)
			}
			_ = c.c.SetReadDeadline(deadline)
		}
		c.mreq = r
		call.status, call.chosen, call.retries, call.n = c.forward(pl, pl.sticky(r))
		c.mreq = nil
		call.forwarded = true
	}
}

// hopHeaders are the hop-by-hop headers ReverseProxy removes, with
// Forwarded, which it removes too with a Rewrite hook.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Forwarded"}

// sendable reports whether r's Host and headers may be written as they
// are (the middlewares may have set them from a client's input: the
// user basicauth names in headerField).
func sendable(r *http.Request, pl *pool) bool {
	if pl.lb.PassHostHeader && (r.Host == "" || !validFieldValue(r.Host)) {
		return false
	}
	return headersSendable(r.Header)
}

// buildOutRequest is buildOut for a request the middlewares changed
// (c.mreq, checked by sendable): its target, Host and headers, as
// ReverseProxy and the transport send them (rewrite); the body's
// framing is the client's, as buildOut's.
func (c *fconn) buildOutRequest(pl *pool, b *backend) []byte {
	r, in := c.mreq, &c.req
	u := *r.URL
	u.RawQuery = cleanQueryParams(u.RawQuery)
	o := c.out[:0]
	o = append(o, r.Method...)
	o = append(o, ' ')
	o = append(o, u.RequestURI()...)
	o = append(o, " HTTP/1.1\r\nHost: "...)
	host := b.addr
	if pl.lb.PassHostHeader {
		host = r.Host
	}
	o = append(o, host...)
	o = append(o, "\r\n"...)
	var named []string // named by Connection: hop-by-hop too
	for _, v := range r.Header["Connection"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				named = append(named, http.CanonicalHeaderKey(t))
			}
		}
	}
	for k, vs := range r.Header {
		if k == "Content-Length" || k == "X-Forwarded-For" || containsString(hopHeaders, k) || containsString(named, k) {
			continue
		}
		for _, v := range vs {
			o = append(o, k...)
			o = append(o, ": "...)
			o = append(o, v...)
			o = append(o, "\r\n"...)
		}
	}
	if in.teTrailers {
		o = append(o, "Te: trailers\r\n"...)
	}
	// As rewrite: the peer appended to what the middlewares left.
	o = append(o, "X-Forwarded-For: "...)
	o = append(o, appendForwardedFor(r.Header["X-Forwarded-For"], c.clientIP)...)
	o = append(o, "\r\n"...)
	o = appendFraming(o, in)
	return append(o, "\r\n"...)
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// validFieldValue reports whether v may be sent as a header value (no
// control byte but tab), as net/http's transport checks.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

// fastWriter takes a middleware's own answer on the fast path; finish
// sends it as net/http's server would: Content-Type sniffed when unset,
// Content-Length and Date added.
type fastWriter struct {
	c    *fconn
	h    http.Header
	code int
	body []byte
}

func (w *fastWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *fastWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 && code <= 999 {
		w.code = code
	}
}

func (w *fastWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if !bodyAllowedForStatus(w.code) {
		return 0, http.ErrBodyNotAllowed
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

func bodyAllowedForStatus(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// finish writes the answer and returns its status.
func (w *fastWriter) finish() int {
	c := w.c
	c.finishUnread()
	if w.code == 0 {
		w.code = http.StatusOK
	}
	h := w.Header()
	head := c.req.method == http.MethodHead
	if bodyAllowedForStatus(w.code) {
		if _, ok := h["Content-Type"]; !ok && len(w.body) > 0 && h.Get("Transfer-Encoding") == "" {
			h.Set("Content-Type", http.DetectContentType(w.body))
		}
		if h.Get("Content-Length") == "" && (!head || len(w.body) > 0) {
			h.Set("Content-Length", strconv.Itoa(len(w.body)))
		}
	}
	h.Del("Transfer-Encoding")
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	if c.p.draining.Load() {
		c.closeAfter = true
	}
	if c.closeAfter || !c.bodyDone {
		h.Set("Connection", "close")
	}
	bw := c.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(strconv.Itoa(w.code))
	_ = bw.WriteByte(' ')
	_, _ = bw.WriteString(statusText(w.code))
	_, _ = bw.WriteString("\r\n")
	_ = h.Write(bw) // sorted, values' line breaks replaced, as net/http
	_, _ = bw.WriteString("\r\n")
	if !head {
		_, _ = bw.Write(w.body)
	}
	if cap(w.body) > 64<<10 {
		w.body = nil // not kept for the next request
	}
	return w.code
}
