package ingress

import (
	"net"
	"sync"
	"time"
)

// The connection limit: Options.MaxConns bounds the client connections
// a Proxy holds open at once, over Serve and ServeTLS together, so that
// clients cannot take every file descriptor of the process (the API
// socket, task logs and Raft share them). A connection is counted from
// its accept to its close, wherever it is served: on the fast path, or by
// net/http after a handoff (replayConn releases it) or on ServeTLS
// (limitConn). One past the limit is closed at once, before a byte is
// read or written, and counted in Stats.RefusedConns: answering a 503
// would mean writing to a client whose request is unread, which a reset
// may eat anyway, and leaving it unaccepted in the listen backlog (as
// HAProxy's maxconn does) would let idle connections hold new clients
// waiting with no sign.

// refusedWarnEvery spaces the warnings about refused connections.
const refusedWarnEvery = time.Minute

// admit counts a newly accepted connection and reports whether it may be
// served; a false one is counted as refused and must be closed.
func (p *Proxy) admit() bool {
	n := p.openConns.Add(1)
	max := p.opts.MaxConns
	if max <= 0 || n <= int64(max) {
		return true
	}
	p.openConns.Add(-1)
	refused := p.refusedConns.Add(1)
	now := time.Now().UnixNano()
	if last := p.refusedWarned.Load(); now-last >= int64(refusedWarnEvery) && p.refusedWarned.CompareAndSwap(last, now) {
		p.opts.ErrorLog.Warn("ingress: connection limit reached; closing new connections at once",
			"max_conns", max, "refused_total", refused)
	}
	return false
}

// release uncounts a connection admit let in, once it is closed.
func (p *Proxy) release() { p.openConns.Add(-1) }

// limitListener applies the connection limit to a net/http server's
// listener (ServeTLS).
type limitListener struct {
	net.Listener
	p *Proxy
}

func (l limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.p.admit() {
			return &limitConn{Conn: c, p: l.p}, nil
		}
		_ = c.Close()
	}
}

// limitConn releases its place in the limit when first closed.
type limitConn struct {
	net.Conn
	p    *Proxy
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.p.release)
	return err
}
