package daemon

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A forwarded stream (a follower relaying the leader's logs --follow to
// its client) ends when its client stops reading: each write has a
// deadline, or the relay would wait on that client for ever, holding a
// connection of the TCP listener's.
func TestFlushWriterEndsOnAStalledClient(t *testing.T) {
	ctx := testCtx(t)
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fw := flushWriter{w: w, timeout: 100 * time.Millisecond}
		chunk := []byte(strings.Repeat("x", 64<<10))
		for {
			if _, err := fw.Write(chunk); err != nil {
				done <- err
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Asks, then never reads past the status line.
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("relay ended: %v", err)
	case <-ctx.Done():
		t.Fatal("the relay still writes to a client that stopped reading")
	}
}
