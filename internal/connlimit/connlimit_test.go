package connlimit_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/connlimit"
)

// TestListenerClosesPastTheLimit: with Max connections accepted, the next
// is closed unread and counted as refused; closing one (twice) frees one
// place, so the next is accepted.
func TestListenerClosesPastTheLimit(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &connlimit.Limiter{Max: 2}
	ln := l.Listener(raw)
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	first, second := <-accepted, <-accepted
	over := dial()
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("a connection past the limit: read %v, want EOF (closed)", err)
	}
	if l.Open() != 2 || l.Refused() != 1 {
		t.Fatalf("open %d refused %d, want 2 and 1", l.Open(), l.Refused())
	}
	first.Close()
	first.Close() // a second Close frees nothing more
	if l.Open() != 1 {
		t.Fatalf("open %d after a close, want 1", l.Open())
	}
	dial()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after a place was freed")
	}
	second.Close()
	if l.Open() != 0 {
		t.Fatalf("open %d once all closed, want 0", l.Open())
	}
}
