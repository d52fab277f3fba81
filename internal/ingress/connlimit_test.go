package ingress_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/ingress"
)

// keepAlive10 is an HTTP/1.0 keep-alive request: the fast path hands its
// connection to net/http, which keeps it open after the response.
const keepAlive10 = "GET /old HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"

// TestMaxConnsRefusesPastTheLimitAndFreesOnClose: with MaxConns open
// connections (one on the fast path, one handed to net/http), the next
// is closed at once, unanswered, and counted; closing either frees its
// place, and none is left counted once all are closed.
func TestMaxConnsRefusesPastTheLimitAndFreesOnClose(t *testing.T) {
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{MaxConns: 2})
	fast := e.dialRaw()
	fast.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := fast.read("GET"); resp.StatusCode != 200 {
		t.Fatalf("fast path: %d", resp.StatusCode)
	}
	old := e.dialRaw()
	old.send(keepAlive10)
	if resp, _ := old.read("GET"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("net/http path: %d (close %v), want 200 kept alive", resp.StatusCode, resp.Close)
	}
	if n := ingress.Handoffs(e.proxy); n != 1 {
		t.Fatalf("%d connections handed to net/http, want 1", n)
	}
	if n := e.proxy.Stats().OpenConns; n != 2 {
		t.Fatalf("%d open connections counted, want 2", n)
	}

	over := e.dialRaw()
	over.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if !over.closed() {
		t.Fatal("a connection past MaxConns was served")
	}
	if n := e.proxy.Stats().RefusedConns; n != 1 {
		t.Errorf("%d refused connections counted, want 1", n)
	}

	// Closing each frees its place: a new connection is served after.
	for _, c := range []*rawConn{fast, old} {
		c.c.Close()
		waitFor(t, "a closed connection to free its place", func() bool { return e.proxy.Stats().OpenConns == 1 })
		next := e.dialRaw()
		next.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		if resp, _ := next.read("GET"); resp.StatusCode != 200 {
			t.Fatalf("after a close: %d", resp.StatusCode)
		}
		if c == fast {
			fast = next
		} else {
			next.c.Close()
		}
	}
	fast.c.Close()
	waitFor(t, "every place freed", func() bool { return e.proxy.Stats().OpenConns == 0 })
	if n := e.proxy.Stats().RefusedConns; n != 1 {
		t.Errorf("%d refused connections counted, want 1", n)
	}
}

// TestMaxConnsCountsAConnectionOnce: many connections opened and closed
// at once, on both paths and past the limit, leave nothing counted: each
// is counted once and released once, wherever it was served.
func TestMaxConnsCountsAConnectionOnce(t *testing.T) {
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{MaxConns: 8})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			req := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
			if i%2 == 1 {
				req = keepAlive10
			}
			_, _ = c.Write([]byte(req))
			_ = c.SetReadDeadline(time.Now().Add(testTimeout))
			_, _ = http.ReadResponse(bufio.NewReader(c), nil) // served or refused
		}()
	}
	wg.Wait()
	waitFor(t, "every place freed", func() bool { return e.proxy.Stats().OpenConns == 0 })
	st := e.proxy.Stats()
	if st.RefusedConns == 0 || st.RefusedConns == 64 {
		t.Errorf("%d of 64 connections refused with MaxConns 8: want some served, some refused", st.RefusedConns)
	}
}

// TestMaxConnsOnServeTLS: ServeTLS keeps the same limit.
func TestMaxConnsOnServeTLS(t *testing.T) {
	p, addr, client := tlsProxy(t, ingress.Options{MaxConns: 1})
	clientTLS := client.Transport.(*http.Transport).TLSClientConfig
	dial := func() (*tls.Conn, error) {
		d := &tls.Dialer{Config: clientTLS, NetDialer: &net.Dialer{Timeout: testTimeout}}
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.(*tls.Conn), nil
	}
	first, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dial(); err == nil {
		c.Close()
		t.Fatal("a TLS connection past MaxConns was served")
	}
	first.Close()
	waitFor(t, "the TLS connection to free its place", func() bool { return p.Stats().OpenConns == 0 })
	next, err := dial()
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	next.Close()
	if n := p.Stats().RefusedConns; n != 1 {
		t.Errorf("%d refused connections counted, want 1", n)
	}
}

// TestIdleKeepAliveConnsClose: a client connection idle after a response
// is closed once IdleTimeout passes, on the fast path and on net/http.
func TestIdleKeepAliveConnsClose(t *testing.T) {
	const idle = 200 * time.Millisecond
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{IdleTimeout: idle})
	for _, req := range []string{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", keepAlive10} {
		rc := e.dialRaw()
		rc.send(req)
		resp, _ := rc.read("GET")
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("%q: %d (close %v), want 200 kept alive", req, resp.StatusCode, resp.Close)
		}
		served := time.Now()
		_ = rc.c.SetReadDeadline(served.Add(testTimeout))
		if !rc.closed() {
			t.Fatalf("%q: the idle connection was not closed within %s", req, testTimeout)
		}
		if d := time.Since(served); d < idle-50*time.Millisecond {
			t.Errorf("%q: closed after %s idle, before IdleTimeout %s", req, d, idle)
		}
	}
}

// TestSlowHeadIsCut: a head sent a byte at a time is cut off at
// ReadHeaderTimeout, after a first request as on a new connection.
func TestSlowHeadIsCut(t *testing.T) {
	a := startBackend(t, "a", nil)
	e := oneBackend(t, a.addr(), ingress.Options{ReadHeaderTimeout: 300 * time.Millisecond})
	rc := e.dialRaw()
	rc.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	rc.read("GET")
	start := time.Now()
	head := "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + strings.Repeat("x", 100)
	for i := 0; i < len(head); i++ {
		if _, err := rc.c.Write([]byte{head[i]}); err != nil {
			break // closed
		}
		if time.Since(start) > testTimeout {
			t.Fatal("a slow head was still read after testTimeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = rc.c.SetReadDeadline(time.Now().Add(testTimeout))
	if !rc.closed() {
		t.Fatal("a head trickling in was not cut off")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cut off after %s, want about ReadHeaderTimeout (300ms)", d)
	}
}

// A TLS connection frees its place in the limit when it closes, whether
// the fast path kept it (HTTP/1.1) or handed it to net/http (h2).
func TestMaxConnsFreedAfterEitherTLSProtocol(t *testing.T) {
	p, addr, client := tlsProxy(t, ingress.Options{MaxConns: 1})
	for _, proto := range []string{"h2", "http/1.1", "h2"} {
		cfg := client.Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.NextProtos = []string{proto}
		d := &tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: testTimeout}}
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			t.Fatalf("%s: %v", proto, err)
		}
		if got := c.(*tls.Conn).ConnectionState().NegotiatedProtocol; got != proto {
			t.Errorf("negotiated %q, want %q", got, proto)
		}
		waitFor(t, "the connection to be counted", func() bool { return p.Stats().OpenConns == 1 })
		c.Close()
		waitFor(t, "the "+proto+" connection to free its place", func() bool { return p.Stats().OpenConns == 0 })
	}
	if n := p.Stats().RefusedConns; n != 0 {
		t.Errorf("%d refused connections, want 0", n)
	}
}
