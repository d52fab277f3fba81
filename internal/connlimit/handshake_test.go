package connlimit_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/internal/connlimit"
	"github.com/shoalproject/shoal/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tlsServer serves TLSListener on loopback with hs and timeout; every
// connection accepted gets "hello" and is closed.
func tlsServer(t *testing.T, hs *connlimit.Handshakes, timeout time.Duration) (addr string, client *tls.Config) {
	t.Helper()
	cert, leaf := testutil.SelfSignedCert(t, "127.0.0.1")
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := connlimit.NewTLSListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}}, hs, timeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, ok := c.(*tls.Conn); !ok {
				t.Errorf("Accept returned %T, want *tls.Conn (net/http reads its state)", c)
			}
			_, _ = c.Write([]byte("hello"))
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return raw.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// idle connects from local (an address of 127/8) and sends nothing.
func idle(t *testing.T, addr, local string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// hello completes a handshake from local and reads the greeting.
func hello(t *testing.T, addr, local string, cfg *tls.Config) error {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		return errors.New("no greeting: " + string(b))
	}
	return nil
}

// closedByServer reports whether the server has closed c (c, which sent
// nothing, reads EOF or a reset rather than waiting).
func closedByServer(c net.Conn, wait time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// Connections that never start their handshake don't keep a client out:
// past the bound, the oldest is closed to make room, and one address
// can't evict another's (its own oldest goes first).
func TestIdleHandshakesDontKeepClientsOut(t *testing.T) {
	hs := &connlimit.Handshakes{Max: 8, MaxPerIP: 4}
	addr, cfg := tlsServer(t, hs, time.Minute)
	other := []net.Conn{idle(t, addr, "127.0.0.2"), idle(t, addr, "127.0.0.2")}
	var flood []net.Conn
	for range 40 {
		flood = append(flood, idle(t, addr, "127.0.0.1"))
	}
	if err := hello(t, addr, "127.0.0.1", cfg); err != nil {
		t.Fatalf("a client behind 40 idle connections from its own address: %v", err)
	}
	if err := hello(t, addr, "127.0.0.3", cfg); err != nil {
		t.Fatalf("a client from another address: %v", err)
	}
	for i, c := range other {
		if closedByServer(c, 100*time.Millisecond) {
			t.Errorf("idle connection %d of 127.0.0.2 was closed by 127.0.0.1's flood", i)
		}
	}
	if !closedByServer(flood[0], 5*time.Second) {
		t.Error("the flood's oldest connection is still open")
	}
	if n := hs.Pending(); n > 4+2 {
		t.Errorf("%d handshakes pending, want at most 4 of 127.0.0.1 and 2 of 127.0.0.2", n)
	}
	if hs.Evicted() < 36 {
		t.Errorf("evicted %d, want at least 36 of the 40", hs.Evicted())
	}
}

// A handshake not finished within the timeout is closed, and its place
// given back.
func TestHandshakeTimeout(t *testing.T) {
	hs := &connlimit.Handshakes{}
	addr, _ := tlsServer(t, hs, 200*time.Millisecond)
	c := idle(t, addr, "127.0.0.1")
	if !closedByServer(c, 5*time.Second) {
		t.Fatal("an idle connection outlived the handshake timeout")
	}
	deadline := time.Now().Add(5 * time.Second)
	for hs.Pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d handshakes still counted", hs.Pending())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A bad handshake (plain HTTP) is closed and counted out.
func TestBadHandshakeClosed(t *testing.T) {
	hs := &connlimit.Handshakes{}
	addr, _ := tlsServer(t, hs, time.Minute)
	c := idle(t, addr, "127.0.0.1")
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if !closedByServer(c, 5*time.Second) {
		t.Fatal("plain HTTP was left open")
	}
}
