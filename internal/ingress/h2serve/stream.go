package h2serve

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

var (
	errConnClosed  = errors.New("h2serve: connection closed")
	errStreamReset = errors.New("h2serve: stream reset by the client")
	errFlowControl = errors.New("h2serve: flow control window overflow")
)

// stream is one request and its response. Fields without a comment on
// their guard are c.mu's.
type stream struct {
	c   *Conn
	id  uint32
	req *http.Request

	ctx    context.Context
	cancel context.CancelFunc

	outflow int64 // the client's window for this stream's DATA
	// err is set when the stream ends before its response does (reset,
	// flow control error, connection gone): writes fail with it.
	err  error
	dead atomic.Bool // err is set: read without c.mu by writes

	// The request body: buf[off:] is buffered, within inflow.
	buf        []byte
	off        int
	bodyErr    error // io.EOF at END_STREAM, or why it stopped
	bodyClosed bool  // the handler closed the body: data is discarded
	remoteDone bool  // END_STREAM received
	inflow     int32 // window the client may still use
	credit     int32 // read and not yet given back
	declared   int64 // the request's content-length, or -1
	received   int64
	readTimer  *time.Timer

	// headerBytes is the decoded size of the request's header list,
	// counted in Conn.headerBytes while the handler runs.
	headerBytes int64

	// stallSince is when the stream began waiting for the client's
	// windows without having been granted minWindowProgress since;
	// stallGot is what it was granted meanwhile (acquire).
	stallSince time.Time
	stallGot   int64

	// finished is set once the response is complete (by its handler's
	// goroutine).
	finished atomic.Bool
}

// abort ends the stream early with err (c.mu held); the caller wakes
// waiters.
func (st *stream) abort(err error) {
	if st.err != nil {
		return
	}
	st.err = err
	st.dead.Store(true)
	if st.bodyErr == nil {
		st.bodyErr = err
	}
	if st.readTimer != nil {
		st.readTimer.Stop()
	}
	st.cancel()
}

// onHeaders starts a stream, or takes a request's trailers.
func (c *Conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		code := http2.ErrCodeProtocol
		if st.remoteDone {
			code = http2.ErrCodeStreamClosed
		}
		reset, err := c.onTrailersLocked(st, f)
		c.mu.Unlock()
		if reset {
			c.resetStream(id, code)
			return c.abuse.reset()
		}
		return err
	}
	if id <= c.maxID {
		c.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	}
	c.maxID = id
	if c.draining || c.goneAway {
		c.mu.Unlock()
		return nil // after GOAWAY: ignored (RFC 9113 section 6.8)
	}
	hsize := headerListSize(f)
	refuse := uint32(len(c.streams)) >= c.cfg.MaxConcurrentStreams || uint32(c.running) >= c.cfg.MaxConcurrentStreams ||
		c.headerBytes+hsize > c.cfg.MaxConnHeaderBytes
	c.mu.Unlock()
	if f.Truncated && !refuse {
		// A header list past the limit is answered 431, and counts
		// as a reset: decoding it cost the server work (HPACK's
		// dynamic table makes a few bytes on the wire decode to the
		// whole limit).
		if err := c.abuse.reset(); err != nil {
			return err
		}
	}
	if refuse {
		if err := c.abuse.reset(); err != nil {
			return err
		}
		c.resetStream(id, http2.ErrCodeRefusedStream)
		return nil
	}
	req, declared, err := c.newRequest(f)
	if err != nil {
		c.cfg.ErrorLog.Debug("h2serve: malformed request", "client", c.info.RemoteAddr, "err", err)
		return c.streamError(id, http2.ErrCodeProtocol)
	}
	st := &stream{c: c, id: id, declared: declared, inflow: c.cfg.StreamWindow, headerBytes: hsize}
	st.ctx, st.cancel = context.WithCancel(c.ctx)
	req = req.WithContext(st.ctx)
	var h http.Handler = c.h
	if f.Truncated {
		h = http.HandlerFunc(headerTooLarge)
	}
	if f.StreamEnded() {
		st.remoteDone, st.bodyErr = true, errBodyDone
		req.Body = http.NoBody
	} else {
		req.Body = &requestBody{st: st}
	}
	st.req = req
	c.mu.Lock()
	st.outflow = int64(c.peerInit)
	c.streams[id] = st
	c.running++
	c.headerBytes += hsize
	if !st.remoteDone && c.cfg.ReadTimeout > 0 {
		st.readTimer = time.AfterFunc(c.cfg.ReadTimeout, func() { c.readTimedOut(st) })
	}
	c.mu.Unlock()
	c.handlers.Add(1)
	go c.runHandler(st, h)
	return nil
}

// headerListSize is the decoded size of a request's header list as
// RFC 9113 section 6.5.2 counts it (what the Framer bounds with
// MaxHeaderListSize; a truncated list's fields stop at the limit).
func headerListSize(f *http2.MetaHeadersFrame) int64 {
	var n int64
	for _, hf := range f.Fields {
		n += int64(hf.Size())
	}
	return n
}

func headerTooLarge(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "431 Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge)
}

func (c *Conn) readTimedOut(st *stream) {
	c.mu.Lock()
	if !st.remoteDone && st.bodyErr == nil {
		st.bodyErr = os.ErrDeadlineExceeded
		c.cond.Broadcast()
	}
	c.mu.Unlock()
}

// onTrailersLocked takes the trailers that end a request body; reset
// says the stream is to be reset (malformed) once c.mu is released.
func (c *Conn) onTrailersLocked(st *stream, f *http2.MetaHeadersFrame) (reset bool, err error) {
	if st.remoteDone {
		// Half-closed (remote): a stream error (RFC 9113 section 5.1).
		st.abort(errStreamReset)
		c.removeLocked(st)
		c.cond.Broadcast()
		return true, nil
	}
	if !f.StreamEnded() || len(f.PseudoFields()) > 0 || f.Truncated ||
		st.declared >= 0 && st.received != st.declared {
		st.abort(errStreamReset)
		c.removeLocked(st)
		c.cond.Broadcast()
		return true, nil
	}
	if tr := st.req.Trailer; tr != nil {
		for _, hf := range f.RegularFields() {
			k := canonical(hf.Name)
			if _, declared := tr[k]; declared {
				tr[k] = append(tr[k], hf.Value)
			}
		}
	}
	c.endBodyLocked(st)
	return false, nil
}

// errBodyDone is io.EOF: the whole body was read.
var errBodyDone = io.EOF

// endBodyLocked marks the request body whole.
func (c *Conn) endBodyLocked(st *stream) {
	st.remoteDone = true
	if st.bodyErr == nil {
		st.bodyErr = errBodyDone
	}
	if st.readTimer != nil {
		st.readTimer.Stop()
	}
	c.cond.Broadcast()
}

// connHeaders are the connection-specific headers a request must not
// carry (RFC 9113 section 8.2.2), lower case.
var connHeaders = []string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"}

// newRequest builds the request of a HEADERS frame, and its declared
// content length (-1 when none), or says why it is malformed.
func (c *Conn) newRequest(f *http2.MetaHeadersFrame) (*http.Request, int64, error) {
	method := f.PseudoValue("method")
	scheme := f.PseudoValue("scheme")
	authority := f.PseudoValue("authority")
	path := f.PseudoValue("path")
	if f.PseudoValue("protocol") != "" {
		return nil, 0, errors.New("extended CONNECT is not offered")
	}
	if method == http.MethodConnect {
		if scheme != "" || path != "" || authority == "" {
			return nil, 0, errors.New("malformed CONNECT")
		}
	} else if method == "" || (scheme != "https" && scheme != "http") || path == "" ||
		(path[0] != '/' && !(path == "*" && method == http.MethodOptions)) {
		return nil, 0, errors.New("missing or invalid pseudo-header")
	}
	// The method and the path become an HTTP/1.1 request line toward the
	// backends: a method that is not a token, or a space in the path
	// (url.ParseRequestURI keeps it in the query), would split it.
	if !httpguts.ValidHeaderFieldName(method) || strings.IndexByte(path, ' ') >= 0 {
		return nil, 0, errors.New("invalid :method or :path")
	}
	fields := f.RegularFields()
	h := make(http.Header, len(fields))
	declared := int64(-1)
	var cookies []string
	for _, hf := range fields {
		name := hf.Name
		for _, ch := range connHeaders {
			if name == ch {
				return nil, 0, errors.New("connection-specific header " + name)
			}
		}
		switch name {
		case "te":
			if hf.Value != "trailers" {
				return nil, 0, errors.New(`"te" other than "trailers"`)
			}
		case "content-length":
			n, err := strconv.ParseUint(hf.Value, 10, 63)
			if err != nil || (declared >= 0 && int64(n) != declared) {
				return nil, 0, errors.New("invalid content-length")
			}
			declared = int64(n)
		case "cookie":
			// Split cookie fields join into one (RFC 9113 section 8.2.3).
			cookies = append(cookies, hf.Value)
			continue
		}
		k := canonical(name)
		h[k] = append(h[k], hf.Value)
	}
	if len(cookies) > 0 {
		h["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if err := checkAuthority(&authority, scheme, h["Host"]); err != nil {
		return nil, 0, err
	}
	delete(h, "Host")
	if cl := h["Content-Length"]; len(cl) > 1 {
		h["Content-Length"] = cl[:1]
	}
	var u *url.URL
	var err error
	if method == http.MethodConnect {
		u = &url.URL{Host: authority}
		path = authority
	} else if u, err = url.ParseRequestURI(path); err != nil {
		return nil, 0, err
	}
	req := &http.Request{Method: method, URL: u, Proto: "HTTP/2.0", ProtoMajor: 2, Header: h,
		Host: authority, RemoteAddr: c.info.RemoteAddr, RequestURI: path, TLS: c.info.TLS}
	if f.StreamEnded() {
		if declared > 0 {
			return nil, 0, errors.New("content-length with no body")
		}
		req.ContentLength = 0
	} else {
		req.ContentLength = declared
	}
	if tr := h["Trailer"]; len(tr) > 0 {
		req.Trailer = http.Header{}
		for _, v := range tr {
			for _, k := range strings.Split(v, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
					// Only the fields that may be trailers (as
					// net/http's HTTP/2 server): no Host, framing,
					// routing or authentication fields late.
					if httpguts.ValidTrailerHeader(k) {
						req.Trailer[k] = nil
					}
				}
			}
		}
		delete(h, "Trailer")
	}
	return req, declared, nil
}

// checkAuthority takes the request's authority from the Host header
// when :authority is absent and checks it as net/http's HTTP/2 server
// does: one Host at most, equal to :authority when both are present
// (RFC 9113 section 8.3.1), no userinfo, a valid host.
func checkAuthority(authority *string, scheme string, hosts []string) error {
	switch {
	case len(hosts) > 1:
		return errors.New("more than one host header")
	case len(hosts) == 1 && *authority == "":
		*authority = hosts[0]
	case len(hosts) == 1 && hosts[0] != *authority:
		return errors.New(":authority and host differ")
	}
	if strings.IndexByte(*authority, '@') >= 0 && (scheme == "http" || scheme == "https") {
		return errors.New("userinfo in :authority")
	}
	if *authority != "" && !httpguts.ValidHostHeader(*authority) {
		return errors.New("invalid :authority")
	}
	return nil
}

// onData buffers a request body's DATA within the windows granted.
func (c *Conn) onData(f *http2.DataFrame) error {
	id, length, data := f.StreamID, int32(f.Length), f.Data()
	c.mu.Lock()
	if length > c.inflow {
		c.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.inflow -= length
	st := c.streams[id]
	if st != nil && st.remoteDone && st.err == nil {
		// Half-closed (remote): the stream ends, its handler with it
		// (RFC 9113 section 5.1), rather than answering past the reset.
		c.failDataLocked(st, length, errStreamReset, http2.ErrCodeStreamClosed)
		return c.abuse.reset()
	}
	if st == nil || st.remoteDone || st.err != nil {
		// Closed or reset: the connection's window is given back.
		c.credit += length
		cinc := c.connCreditLocked()
		idle := id > c.maxID
		c.mu.Unlock()
		if idle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sendCredit(0, 0, cinc)
		if err := c.abuse.control(); err != nil {
			return err
		}
		if st == nil {
			c.resetStream(id, http2.ErrCodeStreamClosed)
		}
		return nil
	}
	if length > st.inflow {
		c.failDataLocked(st, length, errFlowControl, http2.ErrCodeFlowControl)
		return c.abuse.reset()
	}
	st.inflow -= length
	// Padding is given back at once.
	pad := length - int32(len(data))
	st.credit += pad
	c.credit += pad
	st.received += int64(len(data))
	if st.declared >= 0 && st.received > st.declared || f.StreamEnded() && st.declared >= 0 && st.received != st.declared {
		c.failDataLocked(st, int32(len(data)), errStreamReset, http2.ErrCodeProtocol)
		return c.abuse.reset()
	}
	if st.bodyClosed {
		c.credit += int32(len(data))
	} else if len(data) > 0 {
		if st.off == len(st.buf) {
			st.buf, st.off = st.buf[:0], 0
		} else if st.off > 0 && len(st.buf)+len(data) > cap(st.buf) {
			// The bytes read are dropped before the buffer grows: what
			// it holds stays within the stream's window.
			n := copy(st.buf, st.buf[st.off:])
			st.buf, st.off = st.buf[:n], 0
		}
		st.buf = append(st.buf, data...)
		c.cond.Broadcast()
	}
	if f.StreamEnded() {
		c.endBodyLocked(st)
	}
	sinc, cinc := c.streamCreditLocked(st), c.connCreditLocked()
	c.mu.Unlock()
	c.sendCredit(id, sinc, cinc)
	if len(data) == 0 && !f.StreamEnded() {
		return c.abuse.control()
	}
	return nil
}

// failDataLocked resets st over a DATA frame in error, giving n bytes
// of the connection's window back; it unlocks c.mu. The caller counts
// the reset against the client's budget: a client that has the server
// reset its streams (MadeYouReset, CVE-2025-8671) is a rapid reset.
func (c *Conn) failDataLocked(st *stream, n int32, err error, code http2.ErrCode) {
	c.credit += n
	st.abort(err)
	c.removeLocked(st)
	c.cond.Broadcast()
	cinc := c.connCreditLocked()
	c.mu.Unlock()
	c.sendCredit(0, 0, cinc)
	c.resetStream(st.id, code)
}

// streamCreditLocked is the window to give back to st's client now:
// a quarter of the window read at least, and only while the body may
// still come.
func (c *Conn) streamCreditLocked(st *stream) int32 {
	if st.remoteDone || st.err != nil || st.credit < c.cfg.StreamWindow/4 {
		return 0
	}
	n := st.credit
	st.inflow += n
	st.credit = 0
	return n
}

// connCreditLocked is the same for the connection's window.
func (c *Conn) connCreditLocked() int32 {
	if c.credit < c.cfg.ConnWindow/4 {
		return 0
	}
	n := c.credit
	c.inflow += n
	c.credit = 0
	return n
}

// sendCredit sends the WINDOW_UPDATE frames for the credit given back.
func (c *Conn) sendCredit(id uint32, sinc, cinc int32) {
	if sinc == 0 && cinc == 0 {
		return
	}
	_ = c.write(func() error {
		if cinc > 0 {
			if err := c.fr.WriteWindowUpdate(0, uint32(cinc)); err != nil {
				return err
			}
		}
		if sinc > 0 {
			return c.fr.WriteWindowUpdate(id, uint32(sinc))
		}
		return nil
	}, true)
}

// requestBody is a request's Body: what DATA frames brought.
type requestBody struct{ st *stream }

func (b *requestBody) Read(p []byte) (int, error) {
	st := b.st
	c := st.c
	c.mu.Lock()
	for st.off == len(st.buf) && st.bodyErr == nil && !st.bodyClosed {
		c.cond.Wait()
	}
	if st.bodyClosed {
		c.mu.Unlock()
		return 0, errors.New("h2serve: read on closed body")
	}
	if st.off == len(st.buf) {
		err := st.bodyErr
		c.mu.Unlock()
		return 0, err
	}
	n := copy(p, st.buf[st.off:])
	st.off += n
	st.credit += int32(n)
	c.credit += int32(n)
	sinc, cinc := c.streamCreditLocked(st), c.connCreditLocked()
	c.mu.Unlock()
	c.sendCredit(st.id, sinc, cinc)
	return n, nil
}

func (b *requestBody) Close() error {
	st := b.st
	c := st.c
	c.mu.Lock()
	if !st.bodyClosed {
		st.bodyClosed = true
		c.credit += int32(len(st.buf) - st.off)
		st.buf, st.off = nil, 0
		c.cond.Broadcast()
	}
	cinc := c.connCreditLocked()
	c.mu.Unlock()
	c.sendCredit(0, 0, cinc)
	return nil
}
