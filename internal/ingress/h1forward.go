package ingress

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The fast path's forwarder: one request, its attempts on backends, and
// the streaming of its body and response. The retry policy is
// forwarder's (forward.go), applied to the same facts:
//
//   - dial failed (or the TLS handshake): retried on another backend,
//     any method, and the backend is ejected;
//   - a reused keep-alive connection failed before any response byte,
//     but not by a timeout, with nothing written or with a replayable
//     request (GET, HEAD, OPTIONS, TRACE, or an Idempotency-Key, and no
//     body byte sent): sent again on a new connection to the same
//     backend, as net/http's transport does, without counting as an
//     attempt;
//   - otherwise failed with no response byte: retried on another backend
//     when the method is idempotent, no body byte was taken from the
//     client and the failure is not a timeout;
//   - anything else answers 502, or 504 for a timeout.

// errBodyTooLarge is a request body over Options.MaxBodyBytes.
var errBodyTooLarge = errors.New("ingress: request body too large")

// attemptResult is what went wrong in one attempt.
type attemptResult struct {
	err      error
	dial     bool // no connection: dial or TLS handshake failed
	consumed bool // some body byte was taken from the client
	gotResp  bool // some response byte arrived
	// clientErr is set when the client failed: gone, or its body was
	// malformed or too large.
	clientErr error
}

// copyResult is the outcome of streaming a request body.
type copyResult struct {
	clientErr  error // reading from the client
	backendErr error // writing to the backend
}

// forward sends the request to a backend, retrying as the policy allows,
// and streams the answer back. It returns the status for stats and logs,
// the backend that answered, the retries and the body bytes sent.
func (c *fconn) forward(pl *pool, preferred *backend) (status int, chosen *backend, retries int, n int64) {
	tried := c.tried[:0]
	defer clear(c.tried[:])
	var last attemptResult
	maxAttempts := c.p.opts.MaxAttempts
	var current *backend // its in-flight count is released even on a panic
	defer func() {
		if current != nil {
			current.inflight.Add(-1)
		}
	}()
	for {
		b := pl.next(tried, preferred, maxAttempts)
		if b == nil {
			if last.err != nil {
				return c.fail(pl, last), nil, retries, 0
			}
			pl.stats.noBackend.Add(1)
			c.finishUnread()
			c.writeError(http.StatusServiceUnavailable, noBackendMessage(pl))
			return http.StatusServiceUnavailable, nil, retries, 0
		}
		if len(tried) > 0 {
			retries++
			pl.stats.retries.Add(1)
		}
		tried = append(tried, b)
		b.inflight.Add(1)
		current = b
		status, n, res, done := c.attempt(pl, b, preferred)
		b.inflight.Add(-1)
		current = nil
		if done {
			return status, b, retries, n
		}
		last = res
		if !c.retryable(b, res) {
			return c.fail(pl, res), nil, retries, 0
		}
	}
}

func (c *fconn) retryable(b *backend, res attemptResult) bool {
	if res.clientErr != nil {
		return false
	}
	if res.dial {
		b.eject(c.p.table.opts.EjectTime)
		return true
	}
	if isTimeout(res.err) {
		// A backend that does not answer in time counts against it
		// as a refused connection does (passive health).
		b.eject(c.p.table.opts.EjectTime)
	}
	return !res.gotResp && !res.consumed && !isTimeout(res.err) && idempotent(c.req.method)
}

// replayable is net/http's Request.isReplayable for a request without
// a body byte sent.
func (r *reqHead) replayable() bool {
	switch r.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	for _, f := range r.fields {
		if len(f.name) >= 15 && (strings.EqualFold(f.name, "Idempotency-Key") || strings.EqualFold(f.name, "X-Idempotency-Key")) {
			return true
		}
	}
	return false
}

// fail answers a request no attempt could forward.
func (c *fconn) fail(pl *pool, res attemptResult) int {
	c.finishUnread()
	switch {
	case errors.Is(res.clientErr, errBodyTooLarge):
		c.closeAfter = true
		c.writeError(http.StatusRequestEntityTooLarge, "413 request body too large")
		return http.StatusRequestEntityTooLarge
	case errors.Is(res.clientErr, errBadChunk):
		c.closeAfter = true
		c.writeError(http.StatusBadRequest, "400 Bad Request")
		return http.StatusBadRequest
	case res.clientErr != nil:
		// The client went away (or stalled past ReadTimeout); nobody
		// reads an answer. 499 as Traefik and nginx log it.
		c.closeAfter = true
		return 499
	case isTimeout(res.err):
		pl.stats.errors.Add(1)
		c.p.opts.ErrorLog.Warn("ingress: backend timed out", "service", pl.service, "err", res.err)
		c.writeError(http.StatusGatewayTimeout, "504 Gateway Timeout")
		return http.StatusGatewayTimeout
	default:
		pl.stats.errors.Add(1)
		c.p.opts.ErrorLog.Warn("ingress: backend request failed", "service", pl.service, "err", res.err)
		c.writeError(http.StatusBadGateway, "502 Bad Gateway")
		return http.StatusBadGateway
	}
}

// attempt tries one backend. done reports that the request was answered
// (or the client failed after the answer started); otherwise res says
// what failed, and nothing was written to the client.
func (c *fconn) attempt(pl *pool, b *backend, preferred *backend) (status int, n int64, res attemptResult, done bool) {
	r := &c.req
	fresh := false
	for {
		now := time.Now()
		bc, reused, err := b.conns.get(now, fresh)
		if err != nil {
			return 0, 0, attemptResult{err: err, dial: true}, false
		}
		out := c.buildOut(pl, b)
		inline := !c.bodyDone && !r.chunked && int64(c.br.Buffered()) >= r.contentLength
		if inline {
			body, _ := c.br.Peek(int(r.contentLength))
			out = append(out, body...)
		}
		c.out = out
		wn, err := bc.c.Write(out)
		if err != nil {
			bc.close()
			res := attemptResult{err: err, consumed: wn > 0 && !c.bodyDone}
			if reused && !fresh && (wn == 0 || (!res.consumed && r.replayable())) {
				fresh = true
				continue
			}
			if res.consumed {
				c.closeAfter = true // the body is not read again
			}
			return 0, 0, res, false
		}
		streaming := false
		if inline {
			_, _ = c.br.Discard(int(r.contentLength))
			c.bodyDone = true
		} else if !c.bodyDone {
			streaming = true
			if c.copyDone == nil {
				c.copyDone = make(chan copyResult, 1)
			}
			go c.copyBody(bc)
		}
		consumed := inline || streaming
		gotResp, gone, err := c.awaitResponse(bc, now, streaming)
		if err != nil {
			var cr copyResult
			if streaming {
				cr, _ = c.stopCopy(bc)
			}
			bc.close()
			if gone {
				cr.clientErr = errClientGone
			}
			res := attemptResult{err: err, consumed: consumed, gotResp: gotResp, clientErr: cr.clientErr}
			// A timeout is a slow backend, not a connection it closed
			// while idle: not sent again (as net/http's transport).
			if cr.clientErr == nil && reused && !fresh && !gotResp && !consumed && !isTimeout(err) && r.replayable() {
				fresh = true
				continue
			}
			if consumed && !c.bodyDone {
				c.closeAfter = true
			}
			return 0, 0, res, false
		}
		_ = bc.c.SetReadDeadline(time.Time{})
		status, n = c.relay(pl, bc, b, preferred, streaming)
		return status, n, attemptResult{}, true
	}
}

// buildOut writes the outbound request head into c.out: the request
// line, Host (the client's, or the backend's address without
// passHostHeader), the client's headers less the hop-by-hop ones and the
// forwarding headers, then the X-Forwarded-* set as forwardedHeaders does,
// and the body's framing as net/http's transport would write it.
func (c *fconn) buildOut(pl *pool, b *backend) []byte {
	if c.mreq != nil {
		return c.buildOutRequest(pl, b)
	}
	r := &c.req
	o := c.out[:0]
	o = append(o, r.method...)
	o = append(o, ' ')
	o = append(o, r.outTarget...)
	o = append(o, " HTTP/1.1\r\nHost: "...)
	if pl.lb.PassHostHeader {
		o = append(o, r.host...)
	} else {
		o = append(o, b.addr...)
	}
	o = append(o, "\r\n"...)
	hostname := c.p.hostname
	for i := range r.fields {
		f := &r.fields[i]
		if f.drop {
			continue
		}
		switch f.kind {
		case kindOther, kindCookie:
		case kindXFServer:
			if hostname != "" {
				continue
			}
		case kindXRealIP:
			if !c.trusted || r.xRealIP == "" {
				continue
			}
		case kindXFTrusted:
			if !c.trusted {
				continue
			}
		default:
			continue
		}
		o = appendCanonical(o, f.name)
		o = append(o, ": "...)
		o = append(o, f.value...)
		o = append(o, "\r\n"...)
	}
	if r.teTrailers {
		o = append(o, "Te: trailers\r\n"...)
	}
	// X-Forwarded-*: as forwardedHeaders, for an HTTP/1.1 request with
	// no upgrade.
	trusted := c.trusted
	o = append(o, "X-Forwarded-For: "...)
	if trusted && r.hasXFF {
		o = append(o, r.joined(kindXFF)...)
		o = append(o, ", "...)
	}
	o = append(o, c.clientIP...)
	proto := "http"
	if r.tls {
		proto = "https"
	}
	if trusted && r.xfProto != "" {
		proto = r.xfProto
	}
	o = append(o, "\r\nX-Forwarded-Proto: "...)
	o = append(o, proto...)
	o = append(o, "\r\nX-Forwarded-Host: "...)
	if trusted && r.xfHost != "" {
		o = append(o, r.xfHost...)
	} else {
		o = append(o, r.host...)
	}
	o = append(o, "\r\nX-Forwarded-Port: "...)
	if pt, ok := splitPort(r.host); trusted && r.xfPort != "" {
		o = append(o, r.xfPort...)
	} else if ok && pt != "" {
		o = append(o, pt...)
	} else if proto == "https" || proto == "wss" {
		o = append(o, "443"...)
	} else {
		o = append(o, "80"...)
	}
	o = append(o, "\r\n"...)
	if hostname != "" {
		o = append(o, "X-Forwarded-Server: "...)
		o = append(o, hostname...)
		o = append(o, "\r\n"...)
	}
	if !(trusted && r.xRealIP != "") {
		o = append(o, "X-Real-Ip: "...)
		o = append(o, c.clientIP...)
		o = append(o, "\r\n"...)
	}
	o = appendFraming(o, r)
	return append(o, "\r\n"...)
}

// appendFraming appends the request body's framing headers.
func appendFraming(o []byte, r *reqHead) []byte {
	switch {
	case r.chunked:
		o = append(o, "Transfer-Encoding: chunked\r\n"...)
	case r.contentLength > 0:
		o = append(o, "Content-Length: "...)
		o = strconv.AppendInt(o, r.contentLength, 10)
		o = append(o, "\r\n"...)
	case r.method == http.MethodPost || r.method == http.MethodPut || r.method == http.MethodPatch:
		// net/http's transport sends a zero length for these only.
		o = append(o, "Content-Length: 0\r\n"...)
	}
	return o
}

// copyBody streams the request body to the backend; it runs in its own
// goroutine so that the response can come back while the client still
// sends (and a backend answering early does not block the proxy).
func (c *fconn) copyBody(bc *bconn) {
	var res copyResult
	defer func() {
		if v := recover(); v != nil {
			c.p.opts.ErrorLog.Error("ingress: panic streaming a request body", "client", c.remote, "panic", v)
			res.backendErr = fmt.Errorf("ingress: panic: %v", v)
			_ = bc.c.Close()
		}
		c.copyDone <- res
	}()
	max := c.p.opts.MaxBodyBytes
	if c.req.chunked {
		w := chunkWriters.Get().(*bufio.Writer)
		w.Reset(bc.c)
		_, res.clientErr, res.backendErr = copyChunked(w, c.br, max)
		if res.clientErr == nil && res.backendErr == nil {
			res.backendErr = w.Flush()
		}
		w.Reset(nil)
		chunkWriters.Put(w)
	} else {
		res.clientErr, res.backendErr = copyN(bc.c, nil, c.br, c.req.contentLength)
	}
	if res.clientErr != nil {
		// Unblock the response read: this exchange is over.
		_ = bc.c.Close()
	}
}

// stopCopy ends a body copy still running (the response is complete or
// failed) and returns its outcome; the connection's body is then not
// read whole unless the copy had finished. cut reports that the copy was
// still running: bc is then closed.
func (c *fconn) stopCopy(bc *bconn) (res copyResult, cut bool) {
	select {
	case res := <-c.copyDone:
		if res.clientErr == nil && res.backendErr == nil {
			c.bodyDone = true
		}
		return res, false
	default:
	}
	_ = c.c.SetReadDeadline(aLongTimeAgo)
	_ = bc.c.Close()
	res = <-c.copyDone
	if res.clientErr == nil && res.backendErr == nil {
		c.bodyDone = true
	} else {
		c.closeAfter = true
	}
	// A timeout is the deadline set above, not the client's doing.
	if isTimeout(res.clientErr) {
		res.clientErr = nil
	}
	return res, true
}

var (
	aLongTimeAgo = time.Unix(1, 0)
	chunkWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

// Body framings of a response to the client.
const (
	bodyNone    = iota // HEAD, 1xx, 204, 304
	bodyLength         // Content-Length
	bodyChunked        // chunked from the backend, passed on chunked
	bodyToEOF          // until the backend closes; sent chunked
)

func (c *fconn) framing() int {
	rh := &c.resp
	switch {
	case c.req.method == http.MethodHead || rh.code < 200 || rh.code == http.StatusNoContent || rh.code == http.StatusNotModified:
		return bodyNone
	case rh.chunked:
		return bodyChunked
	case rh.contentLength >= 0:
		return bodyLength
	default:
		return bodyToEOF
	}
}

// writeRespHead writes the response head to the client: the status line
// as HTTP/1.1, the backend's headers less the hop-by-hop ones, the sticky
// cookie when setCookie is set, the framing and, when the connection
// ends after this response, Connection: close.
func (c *fconn) writeRespHead(b *backend, setCookie bool, final bool) {
	rh := &c.resp
	w := c.bw
	frame := c.framing()
	_, _ = w.WriteString("HTTP/1.1 ")
	_, _ = w.Write(rh.statusLine())
	_, _ = w.WriteString("\r\n")
	buf := rh.buf
	for _, f := range rh.spans {
		if final {
			if f.drop {
				continue
			}
			switch f.kind {
			case kindOther:
			case kindContentLength:
				if frame == bodyChunked || frame == bodyToEOF {
					continue
				}
			case kindTrailer:
				if frame != bodyChunked {
					continue
				}
			default:
				continue // hop-by-hop, and framing written below
			}
		}
		_, _ = w.Write(appendCanonical(w.AvailableBuffer(), buf[f.ns:f.ne]))
		_, _ = w.WriteString(": ")
		_, _ = w.Write(buf[f.vs:f.ve])
		_, _ = w.WriteString("\r\n")
	}
	if final {
		if c.p.draining.Load() {
			c.closeAfter = true
		}
		if setCookie {
			_, _ = w.WriteString(b.setCookie)
		}
		if frame == bodyChunked || frame == bodyToEOF {
			_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
		}
		if c.closeAfter {
			_, _ = w.WriteString("Connection: close\r\n")
		}
	}
	_, _ = w.WriteString("\r\n")
}

// relay sends the response to the client and returns the backend
// connection to its pool when the exchange ended cleanly.
func (c *fconn) relay(pl *pool, bc *bconn, b *backend, preferred *backend, streaming bool) (status int, n int64) {
	rh := &c.resp
	status = rh.code
	frame := c.framing()
	if streaming {
		// The body is still on its way: if it does not complete, the
		// connection cannot carry another request.
		select {
		case res := <-c.copyDone:
			streaming = false
			if res.clientErr != nil || res.backendErr != nil {
				c.closeAfter = true
			} else {
				c.bodyDone = true
			}
		default:
		}
	}
	c.writeRespHead(b, b.setCookie != "" && b != preferred, true)
	if !streaming && frame != bodyNone && c.br.Buffered() == 0 {
		c.watchRelay(bc)
	}
	var rerr, werr error
	switch frame {
	case bodyLength:
		rerr, werr = copyN(nil, c.bw, bc.br, rh.contentLength)
		n = rh.contentLength
	case bodyChunked:
		n, rerr, werr = copyChunked(c.bw, bc.br, 0)
	case bodyToEOF:
		n, rerr, werr = copyToEOF(c.bw, bc.br)
	}
	if werr == nil {
		werr = c.bw.Flush()
	}
	if c.endRelayWatch(bc) || errors.Is(rerr, errClientGone) {
		werr = errClientGone // the client left while the body was awaited
	}
	reusable := rerr == nil && werr == nil && !rh.close && frame != bodyToEOF
	if streaming {
		// A copy cut off here leaves bc closed, the body unsent.
		res, cut := c.stopCopy(bc)
		if cut || res.clientErr != nil || res.backendErr != nil {
			reusable = false
		}
	}
	if reusable {
		bc.pool.put(bc, time.Now())
	} else {
		bc.close()
	}
	switch {
	case werr != nil:
		c.closeAfter = true // the client is gone
	case rerr != nil:
		c.closeAfter = true
		c.p.opts.ErrorLog.Warn("ingress: backend response body failed", "service", pl.service, "backend", b.addr, "err", rerr)
	}
	return status, n
}

var _ net.Conn = (*replayConn)(nil)
