package ingress

import (
	"net"
	"sync"
	"time"

	"github.com/shoalproject/shoal/internal/connlimit"
)

// Handing a connection from the fast path to the net/http server of the
// same Serve or ServeTLS, with the bytes already read.

// handoffListener hands connections to the net/http server of one Serve.
type handoffListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// handoff gives c to the net/http server; false when it is closed.
func (l *handoffListener) handoff(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn is a connection whose first bytes were already read: Read
// returns them first. Its Close releases its place in the connection
// limit.
type replayConn struct {
	*connlimit.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *fconn) peekBuffered() []byte {
	b, _ := c.br.Peek(c.br.Buffered())
	return b
}

// handoff gives the connection, with head and the bytes buffered after
// it, to the net/http server.
func (c *fconn) handoff(head []byte) bool {
	rest := c.peekBuffered()
	buf := make([]byte, 0, len(head)+len(rest))
	buf = append(append(buf, head...), rest...)
	_ = c.c.SetDeadline(time.Time{})
	// Counted before net/http has it, so that a test seeing net/http's
	// answer sees the count too; taken back if the handoff fails.
	c.p.handoffs.Add(1)
	var rc net.Conn = &replayConn{Conn: c.p.clients.Wrap(c.c), buf: buf}
	if c.tls != nil {
		rc = &tlsReplayConn{rc.(*replayConn), c.tls, c.tlsOpt}
	}
	if !c.hl.handoff(rc) {
		c.p.handoffs.Add(^uint64(0))
		return false
	}
	// net/http's Shutdown waits for it from now on (serve's end untracks
	// it here).
	return true
}
