package h2serve

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// errStreamGone fails the writes to a stream reset or closed.
var errStreamGone = errors.New("h2serve: stream closed")

// chunkSize is how much of a response body is buffered before it is
// written: one DATA frame of the default size.
const chunkSize = 16 << 10

// responseWriter is a stream's http.ResponseWriter. The final head is
// held until the body's first chunk, a Flush or the handler's return,
// so that a small response's HEADERS and DATA go out in one flush.
type responseWriter struct {
	st *stream
	c  *Conn

	h    http.Header
	snap http.Header // h when the final status was written
	// fields is the final head given by WriteHeaderFields instead of
	// snap (lower-case names); fieldsSet says it was.
	fields    []hpack.HeaderField
	fieldsSet bool
	status    int
	sentHead  bool
	head      bool // a HEAD request: the body is not sent
	declared  int64
	written   int64
	buf       []byte
	err       error
}

func (w *responseWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return // as net/http: a superfluous call is ignored
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 {
		if code != http.StatusSwitchingProtocols {
			// 1xx go out at once, with the header map as it is.
			fs := w.frameSize()
			_ = w.c.write(func() error { return w.c.writeHead(w.st.id, code, w.h, nil, false, fs) }, true)
		}
		return
	}
	w.status = code
	w.snap = w.Header().Clone()
	w.declared = -1
	if cl := w.snap.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			delete(w.snap, "Content-Length")
		}
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.st.dead.Load() {
		w.err = errStreamGone
		return 0, w.err
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.head {
		return len(p), nil
	}
	n := len(p)
	for len(p) > 0 {
		room := chunkSize - len(w.buf)
		if room <= 0 {
			if err := w.send(false, false); err != nil {
				return n - len(p), err
			}
			continue
		}
		if room > len(p) {
			room = len(p)
		}
		w.buf = append(w.buf, p[:room]...)
		p = p[room:]
	}
	return n, nil
}

// FlushError sends the head and what is buffered (http.ResponseController).
func (w *responseWriter) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	return w.send(false, true)
}

func (w *responseWriter) Flush() { _ = w.FlushError() }

func (w *responseWriter) frameSize() int {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return int(w.c.peerFrame)
}

// send writes the head if not yet sent and the buffered body, within
// the client's windows; final ends the stream (with the trailers).
func (w *responseWriter) send(final, flush bool) error {
	c, st := w.c, w.st
	var trailers http.Header
	if final {
		trailers = w.trailers()
	}
	endWithData := final && trailers == nil
	data := w.buf
	if !w.sentHead {
		w.completeHead(final)
	}
	for {
		take, fs, err := c.acquire(st, len(data), !w.sentHead)
		if err != nil {
			w.err = err
			return err
		}
		last := take == len(data)
		err = c.write(func() error {
			ended := false
			if !w.sentHead {
				w.sentHead = true
				ended = endWithData && len(data) == 0
				if w.fieldsSet {
					if err := c.writeFields(st.id, w.status, w.fields, ended, fs); err != nil {
						return err
					}
				} else if err := c.writeHead(st.id, w.status, w.snap, w.declaredTrailers(), ended, fs); err != nil {
					return err
				}
			}
			if take > 0 || (last && endWithData && !ended) {
				if err := c.fr.WriteData(st.id, last && endWithData, data[:take]); err != nil {
					return err
				}
			}
			if last && trailers != nil {
				return c.writeHead(st.id, 0, trailers, nil, true, fs)
			}
			return nil
		}, take == 0 || last && (final || flush))
		if err != nil {
			w.err = err
			return err
		}
		data = data[take:]
		if last {
			break
		}
	}
	w.buf = w.buf[:0]
	return nil
}

// completeHead completes the head as net/http's server does before
// sending it: Content-Type sniffed from the first chunk, Date, and
// Content-Length when the handler returned with the whole body here.
func (w *responseWriter) completeHead(final bool) {
	if w.fieldsSet {
		w.completeFields(final)
		return
	}
	h := w.snap
	if bodyAllowed(w.status) {
		if _, ok := h["Content-Type"]; !ok && len(w.buf) > 0 {
			h["Content-Type"] = []string{http.DetectContentType(w.buf)}
		}
		if final && w.declared < 0 && !w.head && len(w.declaredTrailers()) == 0 {
			h["Content-Length"] = []string{strconv.Itoa(len(w.buf))}
		}
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{httpDate()}
	}
}

// errWindowShut fails a stream whose windows stayed shut for
// WriteTimeout, or opened by less than minWindowProgress in that time;
// errBlockedBytes one that would wait past MaxBlockedBytes.
var (
	errWindowShut   = errors.New("h2serve: the client's flow control window stayed shut")
	errBlockedBytes = errors.New("h2serve: too many response bytes wait for the client's flow control windows")
)

// minWindowProgress is the window a stream waiting for it must be
// granted within WriteTimeout: a client that opens it a few bytes at a
// time (or never) would otherwise hold the stream, its handler and its
// backend connection for as long as it likes, each grant putting the
// wait off.
const minWindowProgress = 4 << 10

// blockedGrace is how long a writer past MaxBlockedBytes waits for the
// client to grant any window on the connection before its stream is
// reset (at most WriteTimeout).
const blockedGrace = time.Second

// acquire takes up to want bytes of the stream's and connection's send
// windows (and at most a frame), waiting while they are shut unless
// noWait: nothing is written meanwhile, so the write deadline would not
// end a client that never opens them. The stream may wait for
// WriteTimeout from when it began waiting until it has been granted
// minWindowProgress (or all it wanted), and the connection's waiting
// writers may hold MaxBlockedBytes. It returns the client's frame size
// too.
func (c *Conn) acquire(st *stream, want int, noWait bool) (int, int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var timer *time.Timer
	held := int64(0) // counted in c.blocked while this call waits
	// overSince is when this call, past MaxBlockedBytes, last saw the
	// client grant window (overGrants, c.grants then).
	var overSince time.Time
	var overGrants uint64
	defer func() {
		c.blocked -= held
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if st.err != nil {
			return 0, 0, st.err
		}
		if c.closed {
			return 0, 0, errConnClosed
		}
		if want == 0 {
			// Nothing to send takes no window, which may be negative
			// (SETTINGS_INITIAL_WINDOW_SIZE lowered mid-stream).
			return 0, int(c.peerFrame), nil
		}
		n := min(int64(want), st.outflow, c.outflow, int64(c.peerFrame))
		if n > 0 {
			st.outflow -= n
			c.outflow -= n
			if !st.stallSince.IsZero() {
				if st.stallGot += n; st.stallGot >= minWindowProgress || n == int64(want) {
					st.stallSince, st.stallGot = time.Time{}, 0
				}
			}
			return int(n), int(c.peerFrame), nil
		}
		if noWait {
			return 0, int(c.peerFrame), nil
		}
		now := time.Now()
		if st.stallSince.IsZero() {
			st.stallSince, st.stallGot = now, 0
		}
		left := c.cfg.WriteTimeout - now.Sub(st.stallSince)
		if left <= 0 {
			return 0, 0, errWindowShut
		}
		wake := left
		if held == 0 {
			if c.blocked+int64(want) <= c.cfg.MaxBlockedBytes {
				held = int64(want)
				c.blocked += held
			} else {
				// Past the cap, a writer waits only while the client
				// grants window somewhere on the connection: one that
				// reads many streams through small windows is not one
				// that reads none.
				if overSince.IsZero() || c.grants != overGrants {
					overSince, overGrants = now, c.grants
				}
				grace := min(c.cfg.WriteTimeout, blockedGrace) - now.Sub(overSince)
				if grace <= 0 {
					return 0, 0, errBlockedBytes
				}
				wake = min(wake, grace)
			}
		}
		if timer == nil {
			timer = time.AfterFunc(wake, func() {
				c.mu.Lock()
				c.cond.Broadcast()
				c.mu.Unlock()
			})
		} else {
			timer.Reset(wake)
		}
		c.cond.Wait()
	}
}

// declaredTrailers are the trailer names the handler announced.
func (w *responseWriter) declaredTrailers() []string {
	var names []string
	for _, v := range w.snap["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				names = append(names, http.CanonicalHeaderKey(k))
			}
		}
	}
	return names
}

// trailers are the announced trailers' values and those set with
// http.TrailerPrefix, or nil.
func (w *responseWriter) trailers() http.Header {
	var t http.Header
	for _, k := range w.declaredTrailers() {
		if vs := w.h[k]; len(vs) > 0 {
			if t == nil {
				t = http.Header{}
			}
			t[k] = vs
		}
	}
	for k, vs := range w.h {
		if strings.HasPrefix(k, http.TrailerPrefix) && len(vs) > 0 {
			if t == nil {
				t = http.Header{}
			}
			t[http.CanonicalHeaderKey(strings.TrimPrefix(k, http.TrailerPrefix))] = vs
		}
	}
	return t
}

// finish completes the response after the handler returned: the head
// as net/http's server completes it (Content-Type sniffed, Date, and
// Content-Length when the whole body is known), the body and trailers.
func (w *responseWriter) finish() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if w.declared >= 0 && w.written != w.declared && !w.head && bodyAllowed(w.status) {
		return errors.New("h2serve: handler wrote less than its Content-Length")
	}
	return w.send(true, true)
}

func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// dateCache is the Date header of the current second.
var dateCache atomic.Pointer[[2]string]

func httpDate() string {
	now := time.Now()
	sec := strconv.FormatInt(now.Unix(), 10)
	if d := dateCache.Load(); d != nil && d[0] == sec {
		return d[1]
	}
	d := &[2]string{sec, now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d[1]
}

// writeHead encodes and writes a header block (c.wmu held): a status
// (0 for trailers) and h without the connection-specific fields and the
// names in skip, in frames of at most fs bytes.
func (c *Conn) writeHead(id uint32, status int, h http.Header, skip []string, end bool, fs int) error {
	c.hbuf = c.hbuf[:0]
	if status != 0 {
		_ = c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status)})
	}
	for k, vs := range h {
		lk := lower(k)
		if isConnHeader(lk) || containsName(skip, k) || strings.HasPrefix(k, http.TrailerPrefix) ||
			!httpguts.ValidHeaderFieldName(lk) {
			continue
		}
		for _, v := range vs {
			// As net/http's HTTP/2 server: what a client would take for
			// a malformed response (a field with CR, LF or NUL) is left
			// out rather than sent.
			if httpguts.ValidHeaderFieldValue(v) {
				_ = c.henc.WriteField(hpack.HeaderField{Name: lk, Value: v})
			}
		}
	}
	return c.writeBlock(id, end, fs)
}

// writeBlock writes c.hbuf, an encoded header block, as HEADERS and
// CONTINUATION frames of at most fs bytes (c.wmu held).
func (c *Conn) writeBlock(id uint32, end bool, fs int) error {
	block := c.hbuf
	first := block
	if len(first) > fs {
		first = first[:fs]
	}
	block = block[len(first):]
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first,
		EndStream: end, EndHeaders: len(block) == 0}); err != nil {
		return err
	}
	for len(block) > 0 {
		frag := block
		if len(frag) > fs {
			frag = frag[:fs]
		}
		block = block[len(frag):]
		if err := c.fr.WriteContinuation(id, len(block) == 0, frag); err != nil {
			return err
		}
	}
	if cap(c.hbuf) > 64<<10 {
		c.hbuf = nil
	}
	return nil
}

func isConnHeader(lk string) bool {
	for _, ch := range connHeaders {
		if lk == ch {
			return true
		}
	}
	return false
}

func containsName(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

var statusStrings = func() (s [600]string) {
	for i := 100; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return
}()

func statusString(code int) string {
	if code < len(statusStrings) {
		return statusStrings[code]
	}
	return strconv.Itoa(code)
}
