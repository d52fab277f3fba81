package ingress_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// TestResponseHeaderTimeoutOnReusedConnIsNotResent: a GET that times out
// waiting for its response on a reused keep-alive connection is not sent
// again on a new connection (a slow backend is not a closed connection):
// 504 after one attempt, as on a new connection.
func TestResponseHeaderTimeoutOnReusedConnIsNotResent(t *testing.T) {
	var requests atomic.Int64
	release := make(chan struct{})
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			if requests.Add(1) == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				continue
			}
			<-release // every later request is slow
			return
		}
	})
	defer close(release)
	e := newEnv(t, ingress.TableOptions{ResponseHeaderTimeout: 50 * time.Millisecond}, ingress.Options{})
	e.table.Reset([]*api.Service{service("s1", "web", webLabels())}, []*api.Task{task("t1", "s1", b.addr())})
	c := e.client()
	if r := e.do(c, "GET", "/", ""); r.status != 200 {
		t.Fatalf("first GET: %d", r.status)
	}
	if r := e.do(c, "GET", "/", ""); r.status != http.StatusGatewayTimeout {
		t.Fatalf("slow GET: %d, want 504", r.status)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("backend got %d requests, want 2: the timed-out GET was sent again", n)
	}
}
