package h2serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Conn is one HTTP/2 client connection.
type Conn struct {
	cfg  Config
	nc   net.Conn
	h    Handler
	info ConnInfo

	ctx    context.Context
	cancel context.CancelFunc

	br *bufio.Reader
	rb frameBudget
	fr *http2.Framer

	// wmu serializes writes: the framer's writing side, bw, the hpack
	// encoder and its buffer.
	wmu  sync.Mutex
	bw   *bufio.Writer
	henc *hpack.Encoder
	hbuf []byte // henc's output
	werr error  // a failed write: the connection is lost

	// mu guards the rest; cond wakes writers waiting for window.
	mu      sync.Mutex
	cond    sync.Cond
	streams map[uint32]*stream
	// running counts handlers that have not returned, reset streams'
	// included: new streams are refused while it is at the limit.
	running int
	// headerBytes is the decoded size of the header lists of the
	// requests whose handlers run (MaxConnHeaderBytes); blocked is the
	// response bytes held by writers waiting for the client's windows
	// (MaxBlockedBytes).
	headerBytes, blocked int64
	// grants counts the client's WINDOW_UPDATEs (acquire: a writer past
	// MaxBlockedBytes waits while they come).
	grants    uint64
	maxID     uint32 // highest client stream ID seen
	outflow   int64  // the connection's send window
	peerInit  int32  // the client's SETTINGS_INITIAL_WINDOW_SIZE
	peerFrame uint32 // the client's SETTINGS_MAX_FRAME_SIZE
	// inflow is the connection window the client may still use; credit
	// is consumed window not yet given back.
	inflow   int32
	credit   int32
	closed   bool
	draining bool // GOAWAY sent by Shutdown
	// settingsSent: the server's SETTINGS, its first frame (RFC 9113
	// section 3.4), are written; Shutdown's GOAWAY waits for them.
	settingsSent bool
	goneAway     bool // GOAWAY received: no new streams
	// idleSince is when the last stream ended (or the connection
	// started): IdleTimeout counts from it, whatever frames come since.
	idleSince time.Time
	abuse     abuse
	handlers  sync.WaitGroup
	done      chan struct{} // closed when Serve returns
}

// NewConn returns a server connection on nc, which negotiated h2, that
// serves its requests with h.
func NewConn(nc net.Conn, cfg *Config, h Handler, info ConnInfo) *Conn {
	if cfg == nil {
		cfg = &Config{}
	}
	c := &Conn{cfg: cfg.withDefaults(), nc: nc, h: h, info: info, streams: map[uint32]*stream{},
		outflow: 65535, peerInit: 65535, peerFrame: 16384, inflow: 65535}
	c.cond.L = &c.mu
	c.done = make(chan struct{})
	parent := info.Context
	if parent == nil {
		parent = context.Background()
	}
	c.ctx, c.cancel = context.WithCancel(parent)
	c.br = bufio.NewReaderSize(nc, 16<<10)
	c.rb.r = c.br
	c.bw = bufio.NewWriterSize(nc, 16<<10+64)
	c.fr = http2.NewFramer(c.bw, &c.rb)
	c.fr.SetReuseFrames()
	c.fr.SetMaxReadFrameSize(16 << 10)
	c.fr.MaxHeaderListSize = c.cfg.MaxHeaderListSize
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.ReadMetaHeaders.SetMaxStringLength(int(c.cfg.MaxHeaderListSize))
	c.henc = hpack.NewEncoder(hbufWriter{c})
	c.abuse.init(c.cfg.MaxResetsPerSecond, c.cfg.MaxControlPerSecond)
	return c
}

type hbufWriter struct{ c *Conn }

func (w hbufWriter) Write(p []byte) (int, error) {
	w.c.hbuf = append(w.c.hbuf, p...)
	return len(p), nil
}

// errClientPreface is a connection that did not start with the preface.
var errClientPreface = errors.New("h2serve: bad client preface")

// Serve serves the connection until it closes and its handlers have
// returned; it closes nc.
func (c *Conn) Serve() error {
	defer close(c.done)
	err := c.serve()
	c.mu.Lock()
	c.closed = true
	for _, st := range c.streams {
		st.abort(errConnClosed)
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	c.cancel()
	_ = c.nc.Close()
	c.handlers.Wait()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.cfg.ErrorLog.Debug("h2serve: connection closed", "client", c.info.RemoteAddr, "err", err)
		return err
	}
	return nil
}

func (c *Conn) serve() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(c.cfg.PrefaceTimeout))
	var pre [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c.br, pre[:]); err != nil {
		return fmt.Errorf("h2serve: reading the preface: %w", err)
	}
	if string(pre[:]) != http2.ClientPreface {
		return errClientPreface
	}
	err := c.write(func() error {
		if err := c.fr.WriteSettings(
			http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.cfg.MaxConcurrentStreams},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(c.cfg.StreamWindow)},
			http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.cfg.MaxHeaderListSize},
			http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16 << 10},
		); err != nil {
			return err
		}
		if c.cfg.ConnWindow > 65535 {
			return c.fr.WriteWindowUpdate(0, uint32(c.cfg.ConnWindow-65535))
		}
		return nil
	}, true)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.inflow = c.cfg.ConnWindow
	c.idleSince = time.Now()
	c.settingsSent = true
	draining := c.draining
	c.mu.Unlock()
	if draining {
		c.drainGoAway() // Shutdown came before the SETTINGS
	}
	// The first frame must be SETTINGS (RFC 9113 section 3.4).
	first := true
	for {
		c.rb.reset(c.cfg.MaxHeaderListSize)
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				if err = c.streamError(se.StreamID, se.Code); err == nil {
					continue
				}
			}
			var ce http2.ConnectionError
			switch {
			case errors.As(err, &ce):
				c.goAway(http2.ErrCode(ce))
			case errors.Is(err, http2.ErrFrameTooLarge):
				c.goAway(http2.ErrCodeFrameSize)
			case errors.Is(err, errHeaderBlockTooLong):
				c.goAway(http2.ErrCodeProtocol)
			case errors.Is(err, os.ErrDeadlineExceeded) && !first && c.idle():
				c.goAway(http2.ErrCodeNo) // IdleTimeout, as net/http's
			}
			return err
		}
		if first {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				c.goAway(http2.ErrCodeProtocol)
				return errClientPreface
			}
			first = false
		}
		if err := c.process(f); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				c.goAway(http2.ErrCode(ce))
			}
			return err
		}
		if c.setReadDeadline() {
			return nil // drained
		}
	}
}

// setReadDeadline arms the read deadline for the connection's state:
// IdleTimeout from the last stream's end with no stream open (frames
// that open none, PING say, do not extend it), none while streams are
// open; it reports whether the connection is drained and may close.
func (c *Conn) setReadDeadline() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.streams) > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
		return false
	}
	if c.draining || c.goneAway {
		return true
	}
	_ = c.nc.SetReadDeadline(c.idleSince.Add(c.cfg.IdleTimeout))
	return false
}

// idle reports whether no stream is open and no GOAWAY was exchanged.
func (c *Conn) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.streams) == 0 && !c.draining && !c.goneAway
}

// process handles one frame read.
func (c *Conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		if ack, err := c.control(f.IsAck(), f.StreamID); ack || err != nil {
			return err
		}
		return c.write(func() error { return c.fr.WritePing(true, f.Data) }, true)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onReset(f)
	case *http2.PriorityFrame:
		return c.abuse.control()
	case *http2.GoAwayFrame:
		c.mu.Lock()
		c.goneAway = true
		c.mu.Unlock()
		// As net/http's: a graceful close of our own, whose GOAWAY tells
		// the client which of its streams are served (it may still open
		// some, RFC 9113 section 6.8, and they are ignored).
		c.Shutdown()
		return nil
	case *http2.PushPromiseFrame, *http2.ContinuationFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	default:
		return nil // unknown frame types are ignored
	}
}

// control counts a SETTINGS or PING frame, which must be on stream 0,
// and reports whether it is an acknowledgement (nothing to answer).
func (c *Conn) control(ack bool, id uint32) (bool, error) {
	if err := c.abuse.control(); err != nil {
		return false, err
	}
	if id != 0 {
		return false, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return ack, nil
}

func (c *Conn) onSettings(f *http2.SettingsFrame) error {
	if ack, err := c.control(f.IsAck(), f.StreamID); ack || err != nil {
		return err
	}
	if err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			c.mu.Lock()
			defer c.mu.Unlock()
			delta := int64(s.Val) - int64(c.peerInit)
			c.peerInit = int32(s.Val)
			if delta > 0 {
				c.grants++ // windows opened: acquire's blocked writers wait on
			}
			for _, st := range c.streams {
				st.outflow += delta
				if st.outflow > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			c.cond.Broadcast()
		case http2.SettingMaxFrameSize:
			c.mu.Lock()
			c.peerFrame = s.Val
			c.mu.Unlock()
		case http2.SettingHeaderTableSize:
			c.wmu.Lock()
			c.henc.SetMaxDynamicTableSize(s.Val)
			c.wmu.Unlock()
		}
		return nil
	}); err != nil {
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			return err
		}
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return c.write(c.fr.WriteSettingsAck, true)
}

func (c *Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	if f.StreamID == 0 {
		defer c.mu.Unlock()
		c.outflow += int64(f.Increment)
		c.grants++
		if c.outflow > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.cond.Broadcast()
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		idle := f.StreamID > c.maxID
		c.mu.Unlock()
		if idle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		return nil
	}
	st.outflow += int64(f.Increment)
	c.grants++
	overflow := st.outflow > 1<<31-1
	if overflow {
		st.abort(errFlowControl)
		c.removeLocked(st)
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	if overflow {
		c.resetStream(st.id, http2.ErrCodeFlowControl)
		// A reset the client caused counts as one it sent (MadeYouReset,
		// CVE-2025-8671).
		return c.abuse.reset()
	}
	return nil
}

func (c *Conn) onReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	if f.StreamID > c.maxID {
		c.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeProtocol) // idle stream
	}
	st := c.streams[f.StreamID]
	if st != nil {
		st.abort(errStreamReset)
		c.removeLocked(st)
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	if st != nil && !st.finished.Load() {
		// Reset before its response was done: what rapid reset does.
		return c.abuse.reset()
	}
	return nil
}

// streamError resets a stream the framer found in error.
func (c *Conn) streamError(id uint32, code http2.ErrCode) error {
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		st.abort(errStreamReset)
		c.removeLocked(st)
		c.cond.Broadcast() // its writer may wait for window (acquire)
	} else if id > c.maxID {
		c.maxID = id // a malformed request still opens (and closes) its stream
	}
	c.mu.Unlock()
	if err := c.abuse.reset(); err != nil {
		return err
	}
	return c.write(func() error { return c.fr.WriteRSTStream(id, code) }, true)
}

// resetStream sends RST_STREAM; errors are the connection's.
func (c *Conn) resetStream(id uint32, code http2.ErrCode) {
	_ = c.write(func() error { return c.fr.WriteRSTStream(id, code) }, true)
}

// goAway sends GOAWAY with code on a connection about to close, then
// reads and drops what the client still sends for up to goAwayGrace
// (at most lingerBytes): closing with unread input would make the
// kernel reset the connection, and the client could lose the GOAWAY.
func (c *Conn) goAway(code http2.ErrCode) {
	c.mu.Lock()
	last := c.maxID
	c.mu.Unlock()
	if c.write(func() error { return c.fr.WriteGoAway(last, code, nil) }, true) != nil {
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(goAwayGrace))
	_, _ = io.CopyN(io.Discard, c.br, lingerBytes)
}

// lingerBytes bounds what goAway reads after GOAWAY.
const lingerBytes = 1 << 20

// Done is closed when Serve has returned.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Shutdown starts a graceful close: GOAWAY tells the client which
// streams will be served, those finish, and the connection closes.
func (c *Conn) Shutdown() {
	c.mu.Lock()
	if c.draining || c.closed {
		c.mu.Unlock()
		return
	}
	c.draining = true
	started := c.settingsSent
	c.mu.Unlock()
	if started {
		c.drainGoAway()
	} // else serve sends it after its SETTINGS, which must come first
}

// drainGoAway sends Shutdown's GOAWAY.
func (c *Conn) drainGoAway() {
	c.mu.Lock()
	last := c.maxID
	idle := len(c.streams) == 0
	c.mu.Unlock()
	_ = c.write(func() error { return c.fr.WriteGoAway(last, http2.ErrCodeNo, nil) }, true)
	if idle {
		// Let the client read the GOAWAY, then the reader closes.
		_ = c.nc.SetReadDeadline(time.Now().Add(goAwayGrace))
	}
}

// goAwayGrace is how long a drained connection waits for the client to
// close after GOAWAY.
const goAwayGrace = time.Second

// write runs fn, which writes frames, under the write lock with the
// write deadline set, and flushes when flush is set (or the buffer
// filled). A failed write closes the connection.
func (c *Conn) write(fn func() error, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	err := fn()
	if err == nil && flush {
		err = c.bw.Flush()
	}
	if err != nil {
		c.werr = fmt.Errorf("h2serve: writing: %w", err)
		_ = c.nc.Close()
		return c.werr
	}
	return nil
}

// removeLocked forgets st (c.mu held): its ID is closed.
func (c *Conn) removeLocked(st *stream) {
	if c.streams[st.id] != st {
		return
	}
	delete(c.streams, st.id)
	if len(c.streams) == 0 {
		// Wake the reader so that it re-arms the idle deadline, or
		// closes a drained connection.
		switch {
		case c.draining || c.goneAway:
			_ = c.nc.SetReadDeadline(time.Now().Add(goAwayGrace))
		default:
			c.idleSince = time.Now()
			_ = c.nc.SetReadDeadline(c.idleSince.Add(c.cfg.IdleTimeout))
		}
	}
}

// frameBudget is the framer's reader: it bounds the bytes one ReadFrame
// may consume, so that a header block of empty CONTINUATION frames,
// which the framer would read forever, ends the connection.
type frameBudget struct {
	r    io.Reader
	left int64
}

var errHeaderBlockTooLong = errors.New("h2serve: header block too long on the wire")

func (b *frameBudget) reset(maxList uint32) {
	// A frame, or a header block of at most twice the list size (the
	// framer refuses more) in frames of at least one byte each.
	b.left = 3*int64(maxList) + 64<<10
}

func (b *frameBudget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errHeaderBlockTooLong
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
