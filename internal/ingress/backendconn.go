package ingress

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"sync"
	"syscall"
	"time"
)

// connConfig is how the fast path connects to backends; one per Table.
type connConfig struct {
	dialer                *net.Dialer
	idleTimeout           time.Duration
	maxIdle               int
	responseHeaderTimeout time.Duration
	tls                   *tls.Config
}

// bconn is one raw keep-alive HTTP/1.1 connection to a backend.
type bconn struct {
	c    net.Conn
	raw  syscall.RawConn // of the TCP connection, for the liveness check
	br   *bufio.Reader
	pool *connPool
	// idleSince is when the connection went back to the pool.
	idleSince time.Time
	// The liveness check's callback and results (alive_unix.go).
	peek    func(fd uintptr) bool
	peekErr error
	peekBuf [1]byte
	// rw, while a response body is relayed, watches the client
	// (clientwatch.go).
	rw *relayWatch
}

var bconnReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// close closes the connection for good.
func (bc *bconn) close() {
	_ = bc.c.Close()
	if bc.br != nil {
		bc.br.Reset(nil)
		bconnReaders.Put(bc.br)
		bc.br = nil
	}
}

// connPool is a backend's pool of idle connections, most recently used
// first. A connection idle longer than idleTimeout is closed by a timer,
// and never reused; one the backend closed while idle is noticed before
// reuse (alive).
type connPool struct {
	addr   string
	scheme string
	cfg    *connConfig

	mu     sync.Mutex
	idle   []*bconn
	timer  *time.Timer
	closed bool // the backend left the table: returned connections are closed
}

// get returns the most recently used idle connection that is still open,
// or, with none or with fresh, a newly dialled one; reused tells which.
func (p *connPool) get(now time.Time, fresh bool) (bc *bconn, reused bool, err error) {
	if !fresh {
		for {
			p.mu.Lock()
			n := len(p.idle)
			if n == 0 {
				p.mu.Unlock()
				break
			}
			bc = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			if now.Sub(bc.idleSince) < p.cfg.idleTimeout && bc.alive() {
				return bc, true, nil
			}
			bc.close()
		}
	}
	bc, err = p.dial()
	return bc, false, err
}

func (p *connPool) dial() (*bconn, error) {
	c, err := p.cfg.dialer.Dial("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	bc := &bconn{c: c, pool: p}
	if sc, ok := c.(syscall.Conn); ok {
		bc.raw, _ = sc.SyscallConn()
	}
	if p.scheme == "https" {
		cfg := p.cfg.tls.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(p.addr)
		}
		tc := tls.Client(c, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.dialer.Timeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		bc.c = tc
	}
	bc.br = bconnReaders.Get().(*bufio.Reader)
	bc.br.Reset(bc) // through bconn.Read
	return bc, nil
}

// put returns a connection whose exchange completed cleanly.
func (p *connPool) put(bc *bconn, now time.Time) {
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.cfg.maxIdle {
		p.mu.Unlock()
		bc.close()
		return
	}
	bc.idleSince = now
	p.idle = append(p.idle, bc)
	if p.timer == nil {
		p.timer = time.AfterFunc(p.cfg.idleTimeout, p.reap)
	}
	p.mu.Unlock()
}

// reap closes the connections idle for idleTimeout and rearms itself
// while others remain.
func (p *connPool) reap() {
	now := time.Now()
	p.mu.Lock()
	var old []*bconn
	keep := p.idle[:0]
	var oldest time.Time
	for _, bc := range p.idle {
		if now.Sub(bc.idleSince) >= p.cfg.idleTimeout {
			old = append(old, bc)
			continue
		}
		if oldest.IsZero() || bc.idleSince.Before(oldest) {
			oldest = bc.idleSince
		}
		keep = append(keep, bc)
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	switch {
	case len(keep) == 0:
		p.timer = nil
	case p.timer != nil:
		p.timer.Reset(oldest.Add(p.cfg.idleTimeout).Sub(now))
	default:
		p.timer = time.AfterFunc(oldest.Add(p.cfg.idleTimeout).Sub(now), p.reap)
	}
	p.mu.Unlock()
	for _, bc := range old {
		bc.close()
	}
}

// closeIdle closes the idle connections; with forever, connections
// returned later are closed too.
func (p *connPool) closeIdle(forever bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if forever {
		p.closed = true
	}
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	for _, bc := range idle {
		bc.close()
	}
}
