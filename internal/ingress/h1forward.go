package ingress

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
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

// respHead is a backend's parsed response head; its spans index buf.
type respHead struct {
	buf   []byte
	code  int
	spans []respField
	// framing
	contentLength int64 // -1: none
	chunked       bool
	close         bool // the backend closes after this response
	connTokens    bool
}

type respField struct {
	ns, ne, vs, ve int
	kind           uint8
	drop           bool
}

// Response header kinds beyond the request ones.
const (
	kindTrailer uint8 = 100 + iota
	kindUpgrade
)

// maxResponseHeaderBytes is net/http's Transport default.
const maxResponseHeaderBytes = 10 << 20

// errBodyTooLarge is a request body over Options.MaxBodyBytes.
var errBodyTooLarge = errors.New("ingress: request body too large")

// errBadChunk is malformed chunked framing.
var errBadChunk = errors.New("ingress: malformed chunked encoding")

// errBadResponse is a backend response the proxy cannot forward.
type errBadResponse string

func (e errBadResponse) Error() string { return "ingress: bad backend response: " + string(e) }

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

// readResponseHead reads the backend's response head into c.resp,
// passing informational (1xx) responses on to the client. gotResp tells
// whether any byte arrived.
func (c *fconn) readResponseHead(bc *bconn) (gotResp bool, err error) {
	rh := &c.resp
	for informational := 0; ; informational++ {
		got, err := rh.read(bc.br)
		gotResp = gotResp || got
		if err != nil {
			return gotResp, err
		}
		if rh.code >= 200 {
			return true, nil
		}
		if rh.code == http.StatusSwitchingProtocols {
			return true, errBadResponse("101 Switching Protocols without an upgrade request")
		}
		if informational >= 5 {
			return true, errBadResponse("too many 1xx responses")
		}
		// 1xx: forwarded as they come (103 Early Hints, 100 Continue).
		c.writeRespHead(nil, false, false)
		if err := c.bw.Flush(); err != nil {
			return true, err
		}
	}
}

// read reads and parses one response head.
func (rh *respHead) read(br *bufio.Reader) (got bool, err error) {
	if cap(rh.buf) > 64<<10 {
		rh.buf = nil // do not keep a huge head's buffer
	}
	buf := rh.buf[:0]
	rh.spans = rh.spans[:0]
	rh.contentLength, rh.chunked, rh.close, rh.connTokens = -1, false, false, false
	lineStart := 0
	http10 := false
	for {
		line, err := br.ReadSlice('\n')
		buf = append(buf, line...)
		if len(buf) > 0 {
			got = true
		}
		if len(buf) > maxResponseHeaderBytes {
			rh.buf = buf
			return got, errBadResponse("header too large")
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			rh.buf = buf
			if err == io.EOF && got {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
		l := buf[lineStart:]
		end := len(l) - 1
		if end > 0 && l[end-1] == '\r' {
			end--
		}
		l = l[:end]
		if lineStart == 0 {
			// Status line: HTTP/1.x SP 3DIGIT [SP reason]
			if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || (l[7] != '0' && l[7] != '1') || l[8] != ' ' ||
				!isDigit(l[9]) || !isDigit(l[10]) || !isDigit(l[11]) || (len(l) > 12 && l[12] != ' ') {
				rh.buf = buf
				return got, errBadResponse("malformed status line")
			}
			// The reason phrase is passed on: HTAB, SP, VCHAR and
			// obs-text only (a bare CR could end the line for a lenient
			// client).
			for _, ch := range l[12:] {
				if (ch < ' ' && ch != '\t') || ch == 0x7f {
					rh.buf = buf
					return got, errBadResponse("malformed status line")
				}
			}
			http10 = l[7] == '0'
			rh.code = int(l[9]-'0')*100 + int(l[10]-'0')*10 + int(l[11]-'0')
			if rh.code < 100 {
				rh.buf = buf
				return got, errBadResponse("malformed status code")
			}
			lineStart = len(buf)
			continue
		}
		if len(l) == 0 {
			break
		}
		n := 0
		for n < len(l) && isTokenByte(l[n]) {
			n++
		}
		if n == 0 || n >= len(l) || l[n] != ':' {
			rh.buf = buf
			return got, errBadResponse("malformed header line")
		}
		vs, ve := n+1, len(l)
		for vs < ve && (l[vs] == ' ' || l[vs] == '\t') {
			vs++
		}
		for ve > vs && (l[ve-1] == ' ' || l[ve-1] == '\t') {
			ve--
		}
		for _, ch := range l[vs:ve] {
			if (ch < ' ' && ch != '\t') || ch == 0x7f {
				rh.buf = buf
				return got, errBadResponse("malformed header value")
			}
		}
		rh.spans = append(rh.spans, respField{ns: lineStart, ne: lineStart + n, vs: lineStart + vs, ve: lineStart + ve})
		lineStart = len(buf)
	}
	rh.buf = buf
	keepAlive := !http10
	for i := range rh.spans {
		f := &rh.spans[i]
		name, value := buf[f.ns:f.ne], buf[f.vs:f.ve]
		f.kind = responseKind(name)
		switch f.kind {
		case kindContentLength:
			cl, ok := parseContentLength(string(value))
			if !ok || (rh.contentLength >= 0 && rh.contentLength != cl) {
				return true, errBadResponse("bad Content-Length")
			}
			f.drop = rh.contentLength >= 0 // a repeat of the same length
			rh.contentLength = cl
		case kindTransferEncoding:
			if rh.chunked || !equalFold(value, "chunked") {
				return true, errBadResponse("unsupported Transfer-Encoding")
			}
			rh.chunked = true
		case kindConnection:
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				switch {
				case len(tok) == 0:
				case equalFold(tok, "close"):
					rh.close = true
				case equalFold(tok, "keep-alive"):
					keepAlive = true
				default:
					rh.connTokens = true
				}
			}
		}
	}
	if !keepAlive {
		rh.close = true
	}
	if rh.connTokens {
		for _, f := range rh.spans {
			if f.kind != kindConnection {
				continue
			}
			for _, tok := range bytes.Split(buf[f.vs:f.ve], []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				for j := range rh.spans {
					if len(tok) > 0 && bytes.EqualFold(buf[rh.spans[j].ns:rh.spans[j].ne], tok) {
						rh.spans[j].drop = true
					}
				}
			}
		}
	}
	return true, nil
}

func (rh *respHead) statusLine() []byte {
	l := rh.buf[9:]
	if i := bytes.IndexByte(l, '\n'); i >= 0 {
		l = l[:i]
	}
	return bytes.TrimRight(l, "\r")
}

// responseKind classifies a response header name.
func responseKind(name []byte) uint8 {
	switch len(name) {
	case 2:
		if equalFold(name, "Te") {
			return kindHop
		}
	case 7:
		if equalFold(name, "Trailer") {
			return kindTrailer
		}
		if equalFold(name, "Upgrade") {
			return kindUpgrade
		}
	case 10:
		if equalFold(name, "Connection") {
			return kindConnection
		}
		if equalFold(name, "Keep-Alive") {
			return kindHop
		}
	case 14:
		if equalFold(name, "Content-Length") {
			return kindContentLength
		}
	case 16:
		if equalFold(name, "Proxy-Connection") {
			return kindHop
		}
	case 17:
		if equalFold(name, "Transfer-Encoding") {
			return kindTransferEncoding
		}
	case 18:
		if equalFold(name, "Proxy-Authenticate") {
			return kindHop
		}
	case 19:
		if equalFold(name, "Proxy-Authorization") {
			return kindHop
		}
	}
	return kindOther
}

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

// copyN copies n bytes from src to dst (a bufio.Writer bw, or the
// connection w), flushing bw before each read that would block.
// Errors are told apart: reading src, writing dst.
func copyN(w io.Writer, bw *bufio.Writer, src *bufio.Reader, n int64) (rerr, werr error) {
	write := func(p []byte) error {
		if bw != nil {
			_, err := bw.Write(p)
			return err
		}
		_, err := w.Write(p)
		return err
	}
	var big *[]byte
	defer func() {
		if big != nil {
			copyBuffers.Put(big)
		}
	}()
	for n > 0 {
		if k := src.Buffered(); k > 0 {
			if int64(k) > n {
				k = int(n)
			}
			p, _ := src.Peek(k)
			if err := write(p); err != nil {
				return nil, err
			}
			_, _ = src.Discard(k)
			n -= int64(k)
			continue
		}
		if bw != nil && bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				return nil, err
			}
		}
		if big == nil {
			big = copyBuffers.Get().(*[]byte)
		}
		p := *big
		if int64(len(p)) > n {
			p = p[:n]
		}
		k, err := src.Read(p)
		if k > 0 {
			if err := write(p[:k]); err != nil {
				return nil, err
			}
			n -= int64(k)
		}
		if err != nil && n > 0 {
			return eofUnexpected(err), nil
		}
	}
	return nil, nil
}

// copyToEOF copies src until it ends, chunk-encoding it to dst and
// flushing each piece (a response without framing is a stream).
func copyToEOF(dst *bufio.Writer, src *bufio.Reader) (n int64, rerr, werr error) {
	big := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(big)
	for {
		k, err := src.Read(*big)
		if k > 0 {
			n += int64(k)
			o := dst.AvailableBuffer()
			o = strconv.AppendInt(o, int64(k), 16)
			o = append(o, "\r\n"...)
			if _, werr = dst.Write(o); werr != nil {
				return n, nil, werr
			}
			if _, werr = dst.Write((*big)[:k]); werr != nil {
				return n, nil, werr
			}
			if _, werr = dst.WriteString("\r\n"); werr != nil {
				return n, nil, werr
			}
			if src.Buffered() == 0 {
				if werr = dst.Flush(); werr != nil {
					return n, nil, werr
				}
			}
		}
		if err == io.EOF {
			_, werr = dst.WriteString("0\r\n\r\n")
			return n, nil, werr
		}
		if err != nil {
			return n, err, nil
		}
	}
}

// maxChunkLine bounds a chunk-size line, as net/http's chunked reader.
const maxChunkLine = 4096

// maxTrailerBytes bounds the trailer section of a chunked body.
const maxTrailerBytes = 64 << 10

// copyChunked copies a chunked body from src to dst, re-writing each
// chunk-size line without extensions and passing the trailer section on;
// it returns the data bytes. With limit > 0, more data than limit is
// errBodyTooLarge. dst is flushed before each read that would block.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, limit int64) (n int64, rerr, werr error) {
	flushIfIdle := func() error {
		if src.Buffered() == 0 && dst.Buffered() > 0 {
			return dst.Flush()
		}
		return nil
	}
	var excess int64
	for {
		if werr = flushIfIdle(); werr != nil {
			return n, nil, werr
		}
		line, err := readChunkLine(src)
		if err != nil {
			return n, err, nil
		}
		size, ok := parseChunkSize(line)
		if !ok {
			return n, errBadChunk, nil
		}
		// net/http's bound on framing overhead: 16 bytes a chunk plus
		// twice its data, 16 KiB of excess in all.
		excess += int64(len(line)) + 2 - 16 - 2*size
		if excess = max(excess, 0); excess > 16<<10 {
			return n, errBadChunk, nil
		}
		if limit > 0 && n+size > limit {
			return n, errBodyTooLarge, nil
		}
		o := dst.AvailableBuffer()
		o = strconv.AppendInt(o, size, 16)
		o = append(o, "\r\n"...)
		if _, werr = dst.Write(o); werr != nil {
			return n, nil, werr
		}
		if size == 0 {
			break
		}
		for size > 0 {
			if werr = flushIfIdle(); werr != nil {
				return n, nil, werr
			}
			if src.Buffered() == 0 {
				if _, err := src.Peek(1); err != nil {
					return n, eofUnexpected(err), nil
				}
			}
			k := src.Buffered()
			if int64(k) > size {
				k = int(size)
			}
			p, _ := src.Peek(k)
			if _, werr = dst.Write(p); werr != nil {
				return n, nil, werr
			}
			_, _ = src.Discard(k)
			size -= int64(k)
			n += int64(k)
		}
		crlf, err := src.Peek(2)
		if err != nil {
			return n, eofUnexpected(err), nil
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return n, errBadChunk, nil
		}
		_, _ = src.Discard(2)
		if _, werr = dst.WriteString("\r\n"); werr != nil {
			return n, nil, werr
		}
	}
	// Trailer section: header lines up to an empty line.
	total := 0
	for {
		if werr = flushIfIdle(); werr != nil {
			return n, nil, werr
		}
		line, err := readChunkLine(src)
		if err != nil {
			return n, err, nil
		}
		total += len(line) + 2
		if total > maxTrailerBytes {
			return n, errBadChunk, nil
		}
		if len(line) > 0 {
			i := bytes.IndexByte(line, ':')
			if i <= 0 {
				return n, errBadChunk, nil
			}
			for _, ch := range line[:i] {
				if !isTokenByte(ch) {
					return n, errBadChunk, nil
				}
			}
			for _, ch := range line[i+1:] {
				if (ch < ' ' && ch != '\t') || ch == 0x7f {
					return n, errBadChunk, nil
				}
			}
			if _, werr = dst.Write(line); werr != nil {
				return n, nil, werr
			}
		}
		if _, werr = dst.WriteString("\r\n"); werr != nil {
			return n, nil, werr
		}
		if len(line) == 0 {
			break
		}
	}
	return n, nil, nil
}

// readChunkLine reads one line of chunked framing without its line end.
// The returned slice is valid until the next read from br.
func readChunkLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errBadChunk // longer than the 4 KiB buffer
	}
	if err != nil {
		return nil, eofUnexpected(err)
	}
	// As net/http: CRLF at the end (no bare LF) and no other CR.
	if i := bytes.IndexByte(line, '\r'); len(line) < 2 || i != len(line)-2 || len(line)-2 >= maxChunkLine {
		return nil, errBadChunk
	}
	return line[:len(line)-2], nil
}

// parseChunkSize reads the hex size of a chunk-size line as net/http
// does: trailing whitespace trimmed, then an extension cut off.
func parseChunkSize(line []byte) (int64, bool) {
	line = bytes.TrimRight(line, " \t")
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || len(line) > 16 {
		return 0, false
	}
	var n int64
	for _, ch := range line {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, n >= 0
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// equalFold compares b with the ASCII string s case-insensitively.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

var _ net.Conn = (*replayConn)(nil)
