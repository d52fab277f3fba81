package h2serve

import (
	"errors"
	"net/http"
	"runtime"

	"golang.org/x/net/http2"
)

// A stream's life after its HEADERS: the handler's goroutine, and the
// stream's end once it returns.

// runHandler serves a stream's request, then completes its response.
func (c *Conn) runHandler(st *stream, h http.Handler) {
	defer c.handlers.Done()
	w := &responseWriter{st: st, c: c, head: st.req.Method == http.MethodHead}
	var err error
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.cfg.ErrorLog.Error("h2serve: panic serving a request", "client", c.info.RemoteAddr, "panic", v, "stack", string(buf))
			}
			err = errors.New("h2serve: handler panicked")
		} else {
			err = c.finish(w)
		}
		c.streamDone(st, err)
	}()
	h.ServeHTTP(w, st.req)
}

// finish completes w's response; it runs after runHandler's recover, so
// a panic here, which would end the process, fails the stream instead.
func (c *Conn) finish(w *responseWriter) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.cfg.ErrorLog.Error("h2serve: panic completing a response", "client", c.info.RemoteAddr, "panic", v)
			err = errors.New("h2serve: completing the response panicked")
		}
	}()
	return w.finish()
}

// streamDone ends a stream once its handler returned: reset when the
// response failed, or when the request body is still coming (RFC 9113
// section 8.1: NO_ERROR tells the client to stop sending it).
func (c *Conn) streamDone(st *stream, err error) {
	c.mu.Lock()
	c.running--
	c.headerBytes -= st.headerBytes
	live := c.streams[st.id] == st && st.err == nil
	code := http2.ErrCodeNo
	switch {
	case errors.Is(err, errWindowShut), errors.Is(err, errBlockedBytes):
		code = http2.ErrCodeEnhanceYourCalm // the client's doing
	case err != nil:
		code = http2.ErrCodeInternal
	}
	reset := live && (err != nil || !st.remoteDone)
	if err == nil {
		st.finished.Store(true)
	}
	if !st.bodyClosed {
		st.bodyClosed = true
		c.credit += int32(len(st.buf) - st.off)
		st.buf, st.off = nil, 0
	}
	if st.readTimer != nil {
		st.readTimer.Stop()
	}
	cinc := c.connCreditLocked()
	st.abort(errConnClosed)
	c.removeLocked(st)
	c.mu.Unlock()
	if reset {
		c.resetStream(st.id, code)
	}
	c.sendCredit(0, 0, cinc)
}
