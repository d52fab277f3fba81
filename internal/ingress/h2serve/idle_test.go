package h2serve

import (
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// IdleTimeout counts from the last stream's end: PING, SETTINGS or
// PRIORITY frames, which cost a client nothing, do not keep an idle
// connection open (they used to re-arm the deadline), and the client is
// told with GOAWAY.
func TestIdleTimeoutNotExtendedByControlFrames(t *testing.T) {
	s := startServer(t, Config{IdleTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	c := dialRaw(t, s.addr())
	gone := make(chan http2.ErrCode, 1)
	go func() {
		code, err := c.goAway()
		if err != nil {
			close(gone)
			return
		}
		gone <- code
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case code, ok := <-gone:
			if !ok {
				t.Fatal("closed without GOAWAY")
			}
			if code != http2.ErrCodeNo {
				t.Errorf("GOAWAY %v, want NO_ERROR", code)
			}
			return
		case <-deadline:
			t.Fatal("a client sending PING every 50ms kept a connection idle past IdleTimeout (300ms) for 3s")
		case <-tick.C:
			_ = c.fr.WritePing(false, [8]byte{})
			_ = c.fr.WritePriority(1, http2.PriorityParam{Weight: 1})
		}
	}
}

// A connection shut down before its first frame still starts with the
// server's SETTINGS (RFC 9113 section 3.4), then GOAWAY: a client takes
// any other first frame for a protocol error.
func TestShutdownBeforeServeSendsSettingsFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		sc := NewConn(nc, &Config{ErrorLog: quietLog}, http.NotFoundHandler(), ConnInfo{})
		sc.Shutdown() // as h2tls.go does when the proxy is draining
		_ = sc.Serve()
	}()
	c := dialRaw(t, ln.Addr().String())
	f, err := c.fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	if code, err := c.goAway(); err != nil || code != http2.ErrCodeNo {
		t.Errorf("GOAWAY %v (%v), want NO_ERROR", code, err)
	}
	_ = c.nc.Close()
	<-served
}

// A client's GOAWAY is answered with the server's own, which says the
// streams it serves: the client may still open streams (RFC 9113
// section 6.8), ignored from then on.
func TestClientGoAwayAnswered(t *testing.T) {
	s := startServer(t, Config{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	c := dialRaw(t, s.addr())
	c.request(1, "GET", "/", true)
	_ = c.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	if code, err := c.goAway(); err != nil || code != http2.ErrCodeNo {
		t.Errorf("GOAWAY %v (%v), want the server's NO_ERROR", code, err)
	}
}
