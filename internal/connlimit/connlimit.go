// Package connlimit bounds the connections a server holds open at once,
// so that clients cannot take every file descriptor of the process (the
// API socket, task logs and Raft's files share them).
//
// A connection is counted from its accept to its first Close. One past
// the limit is closed at once, before a byte is read or written, and
// counted as refused: answering it would mean writing to a client whose
// request is unread, which a reset may eat anyway, and leaving it
// unaccepted in the listen backlog (as HAProxy's maxconn and
// x/net/netutil.LimitListener do) would let idle connections hold new
// clients waiting with no sign.
package connlimit

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// warnEvery spaces the warnings about refused connections.
const warnEvery = time.Minute

// Limiter counts open connections against a maximum. Its zero value
// counts without a limit.
type Limiter struct {
	// Max is the most connections open at once; 0 is unbounded.
	Max int
	// Log, when set, is warned (at most once a minute) that connections
	// are being refused, with Name.
	Log  *slog.Logger
	Name string

	open    atomic.Int64
	refused atomic.Uint64
	warned  warner
}

// Admit counts a newly accepted connection and reports whether it may be
// served; a false one is counted as refused and must be closed (it does
// not take a place). One admitted must be released once, when closed.
func (l *Limiter) Admit() bool {
	n := l.open.Add(1)
	if l.Max <= 0 || n <= int64(l.Max) {
		return true
	}
	l.open.Add(-1)
	refused := l.refused.Add(1)
	l.warned.warn(l.Log, l.Name+": connection limit reached; closing new connections at once",
		"max_conns", l.Max, "refused_total", refused)
	return false
}

// Release frees the place of a connection Admit let in.
func (l *Limiter) Release() { l.open.Add(-1) }

// Open is the number of connections counted now.
func (l *Limiter) Open() int64 { return l.open.Load() }

// Refused is the number of connections refused so far.
func (l *Limiter) Refused() uint64 { return l.refused.Load() }

// Listener returns ln with the limit applied: Accept closes connections
// past it and returns only admitted ones, wrapped by Wrap.
func (l *Limiter) Listener(ln net.Listener) net.Listener { return limitListener{ln, l} }

// Wrap returns c, admitted, so that its first Close releases its place.
func (l *Limiter) Wrap(c net.Conn) *Conn { return &Conn{Conn: c, l: l} }

type limitListener struct {
	net.Listener
	l *Limiter
}

func (ln limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ln.l.Admit() {
			return ln.l.Wrap(c), nil
		}
		_ = c.Close()
	}
}

// Conn is an admitted connection: its first Close releases its place.
type Conn struct {
	net.Conn
	l    *Limiter
	once sync.Once
}

// Close closes the connection and releases its place once.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.Release)
	return err
}

// CloseWrite half-closes the connection when it can, as net/http does a
// *net.TCPConn after an error response.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// warner logs a warning at most once per warnEvery: a flood of refused
// connections must not flood the log too.
type warner struct{ last atomic.Int64 } // UnixNano of the last warning

func (w *warner) warn(log *slog.Logger, msg string, args ...any) {
	if log == nil {
		return
	}
	now := time.Now().UnixNano()
	if last := w.last.Load(); now-last >= int64(warnEvery) && w.last.CompareAndSwap(last, now) {
		log.Warn(msg, args...)
	}
}
