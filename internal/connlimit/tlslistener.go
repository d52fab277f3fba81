package connlimit

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// TLSListener is a listener whose Accept returns the connections of
// another with their TLS handshake done: each handshake runs on its own,
// within a timeout and a place among Handshakes, so that connections
// that never finish theirs neither hold up the others nor keep them out.
// Serve it with http.Server.Serve (not ServeTLS): its connections are
// *tls.Conn.
type TLSListener struct {
	ln      net.Listener
	cfg     *tls.Config
	hs      *Handshakes
	timeout time.Duration

	conns  chan *tls.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	mu     sync.Mutex
	err    error // why accepting ended
}

// NewTLSListener starts accepting on ln. hs bounds the unfinished
// handshakes, each of which must end within timeout.
func NewTLSListener(ln net.Listener, cfg *tls.Config, hs *Handshakes, timeout time.Duration) *TLSListener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &TLSListener{ln: ln, cfg: cfg, hs: hs, timeout: timeout, conns: make(chan *tls.Conn), ctx: ctx, cancel: cancel}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *TLSListener) acceptLoop() {
	defer l.wg.Done()
	AcceptLoop(l.ctx, l.ln, nil, func(c net.Conn) {
		p := l.hs.Begin(c)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.handshake(c, p)
		}()
	})
	l.stop(net.ErrClosed)
}

// AcceptLoop hands each connection ln accepts to serve until ctx ends or
// ln is closed. A failed accept (out of descriptors, say) is retried
// after a pause that doubles up to a second, as net/http does, and
// logged when log is set.
func AcceptLoop(ctx context.Context, ln net.Listener, log *slog.Logger, serve func(net.Conn)) {
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			if log != nil {
				log.Warn("accept failed; retrying", "addr", ln.Addr(), "err", err, "retry_in", backoff)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		serve(c)
	}
}

func (l *TLSListener) handshake(raw net.Conn, p *Pending) {
	tc := tls.Server(raw, l.cfg)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	p.End()
	if err != nil {
		_ = tc.Close()
		return
	}
	select {
	case l.conns <- tc:
	case <-l.ctx.Done():
		_ = tc.Close()
	}
}

// Accept returns the next connection whose handshake is done.
func (l *TLSListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		return nil, l.err
	}
}

func (l *TLSListener) stop(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.cancel()
}

// Close stops accepting, closes the listener, ends the unfinished
// handshakes and waits for them.
func (l *TLSListener) Close() error {
	var err error
	l.once.Do(func() {
		l.stop(net.ErrClosed)
		err = l.ln.Close()
		l.wg.Wait()
	})
	return err
}

// Addr is the listener's address.
func (l *TLSListener) Addr() net.Addr { return l.ln.Addr() }
