package portmesh

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// serveTCP accepts connections on ln until it is closed (done is closed
// with it).
func (m *Mesh) serveTCP(p *port, ln net.Listener, done <-chan struct{}) {
	defer m.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors, most likely: wait a little rather than
			// spin, as net/http does.
			m.log.Warn("published port: accept failed", "port", p.key.String(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-done:
				t.Stop()
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !m.limit.acquire() {
			m.refused(p.key)
			_ = c.Close()
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer m.limit.release()
			m.forwardTCP(p, c)
		}()
	}
}

// forwardTCP connects c to a backend of p, trying another one when a dial
// fails (nothing was sent yet), and copies both ways until both sides are
// done.
func (m *Mesh) forwardTCP(p *port, c net.Conn) {
	pl := p.pool.Load()
	tried := map[*backend]bool{}
	for {
		b := pl.pick(tried)
		if b == nil {
			if len(tried) == 0 {
				m.log.Debug("published port: no task takes traffic", "port", p.key.String(), "service", p.name)
			} else {
				m.log.Warn("published port: no task could be reached", "port", p.key.String(), "service", p.name, "tried", len(tried))
			}
			_ = c.Close()
			return
		}
		tried[b] = true
		bc, err := m.dialer.DialContext(m.ctx, "tcp", b.addr)
		if err != nil {
			if m.ctx.Err() != nil {
				_ = c.Close()
				return
			}
			m.log.Debug("published port: dial failed; trying another task", "port", p.key.String(), "task", b.taskID, "addr", b.addr, "err", err)
			continue
		}
		b.active.Add(1)
		defer b.active.Add(-1)
		l := &tcpLink{a: c, b: bc}
		if !m.track(l) {
			l.abort()
			return
		}
		defer m.untrack(l)
		l.run(m.opts.IdleTimeout)
		return
	}
}

func (m *Mesh) track(l *tcpLink) bool {
	m.linksMu.Lock()
	defer m.linksMu.Unlock()
	if m.ctx.Err() != nil {
		return false
	}
	m.links[l] = struct{}{}
	return true
}

func (m *Mesh) untrack(l *tcpLink) {
	m.linksMu.Lock()
	delete(m.links, l)
	m.linksMu.Unlock()
}

// tcpLink is a client connection a and its backend connection b.
type tcpLink struct {
	a, b net.Conn
	once sync.Once
}

// Direction states, for the idle rule.
const (
	dirActive int32 = iota
	dirIdle         // its last window carried no byte
	dirDone         // its source ended (half-closed)
)

// direction copies one way: from src to dst.
type direction struct {
	src, dst net.Conn
	state    atomic.Int32
}

// run copies both ways until both are done, or one side fails, or the
// link is idle, then closes both connections.
//
// Each direction copies with io.Copy (splice(2) between two TCP
// sockets) in windows of the idle timeout, by a read deadline on its
// source. A window that carried no byte marks its direction idle; if the
// other is idle or done too, the link is idle and ends. If the other
// looked active, it is poked (its deadline set to now) to report its own
// window at once: a window can only tell its bytes when it ends, and this
// makes the decision at most one timeout late, never early.
func (l *tcpLink) run(idle time.Duration) {
	up := &direction{src: l.a, dst: l.b}
	down := &direction{src: l.b, dst: l.a}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.copy(up, down, idle)
	}()
	l.copy(down, up, idle)
	wg.Wait()
	l.abort()
}

func (l *tcpLink) copy(d, other *direction, idle time.Duration) {
	for {
		if idle > 0 {
			// The write deadline lies a window past the read's: bytes
			// read just before the window ended are still written (a
			// deadline hit mid-write would drop them), and only a peer
			// that took nothing for a whole window fails the write.
			_ = d.src.SetReadDeadline(time.Now().Add(idle))
			_ = d.dst.SetWriteDeadline(time.Now().Add(2 * idle))
		}
		n, err := io.Copy(d.dst, d.src)
		switch {
		case err == nil:
			// The source sent everything: pass the half-close on, and
			// let the other way finish.
			d.state.Store(dirDone)
			closeWrite(d.dst)
			return
		case errors.Is(err, os.ErrDeadlineExceeded) && n > 0:
			d.state.Store(dirActive)
		case errors.Is(err, os.ErrDeadlineExceeded):
			d.state.Store(dirIdle)
			if other.state.Load() != dirActive {
				l.abort()
				return
			}
			_ = other.src.SetReadDeadline(time.Now())
		default:
			// Reset, closed, or a write that stalled: the link is over.
			l.abort()
			return
		}
	}
}

// abort closes both connections (once), which ends both copies.
func (l *tcpLink) abort() {
	l.once.Do(func() {
		_ = l.a.Close()
		_ = l.b.Close()
	})
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}
