package ingress

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// resetConn is a backend connection whose client resets its stream as
// the response head arrives: the first Read cancels the request's
// context and returns once the exchange's watch has cut the connection
// (SetDeadline in the past), before the exchange clears the head's
// deadline.
type resetConn struct {
	net.Conn
	cancel func()
	once   sync.Once
	cut    chan struct{}
	cutMu  sync.Once
}

func (c *resetConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.once.Do(func() {
		c.cancel()
		<-c.cut
	})
	return n, err
}

func (c *resetConn) SetDeadline(t time.Time) error {
	err := c.Conn.SetDeadline(t)
	if t.Equal(aLongTimeAgo) {
		c.cutMu.Do(func() { close(c.cut) })
	}
	return err
}

// silentBackend reads one request head on c and answers a head whose
// body never comes.
func silentBackend(t *testing.T, c net.Conn) {
	t.Helper()
	go func() {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
		_, _ = io.Copy(io.Discard, br)
	}()
}

// bodyReadEnds reports whether read returns within a second.
func bodyReadEnds(read func() error) bool {
	done := make(chan struct{})
	go func() { _ = read(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(time.Second):
		return false
	}
}

// A client reset that lands while the backend's head is being read
// must still end the body's reads: the response-header timeout's
// deadline is cleared after the head, and must not clear the reset's.
func TestExchangeKeepsTheResetsDeadline(t *testing.T) {
	for _, name := range []string{"exchangeFast", "rawExchange"} {
		t.Run(name, func(t *testing.T) {
			ours, theirs := net.Pipe()
			defer theirs.Close()
			silentBackend(t, theirs)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rc := &resetConn{Conn: ours, cancel: cancel, cut: make(chan struct{})}
			bc := &bconn{c: rc, br: bufio.NewReader(rc)}
			defer bc.close()
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://backend/", nil)
			req.Header.Set("User-Agent", "")
			var read func() error
			if name == "exchangeFast" {
				var rh respHead
				stop, err := exchangeFast(bc, req, []byte("GET / HTTP/1.1\r\nHost: backend\r\n\r\n"), &rh, nil, time.Hour)
				if err != nil {
					t.Skipf("the reset ended the exchange before its head: %v", err)
				}
				defer stop()
				read = func() error { _, err := bc.br.ReadByte(); return err }
			} else {
				resp, err := rawExchange(bc, req, time.Hour)
				if err != nil {
					t.Skipf("the reset ended the exchange before its head: %v", err)
				}
				read = func() error { _, err := resp.Body.Read(make([]byte, 5)); return err }
			}
			if !bodyReadEnds(read) {
				_ = ours.Close() // unblock the read
				t.Fatal("the body's read waits for the backend after the client's reset")
			}
		})
	}
}
