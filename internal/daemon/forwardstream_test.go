package daemon

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// endless is a leader's answer that never ends (logs --follow).
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// A client that stops reading a forwarded stream (logs --follow from a
// follower) must not hold the follower's handler, and through it the
// leader's stream, forever: each write to it has a deadline.
func TestForwardedStreamToAStalledClientEnds(t *testing.T) {
	old := forwardWriteTimeout
	forwardWriteTimeout = 200 * time.Millisecond
	t.Cleanup(func() { forwardWriteTimeout = old })
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		defer close(done)
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(flushWriter{w}, endless{})
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A small receive window fills fast; then the client reads no more.
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	if _, err := conn.Write([]byte("GET /v1/services/s/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the forwarded stream still writes to a client that stopped reading")
	}
}
