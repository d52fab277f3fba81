package h2serve

import (
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
