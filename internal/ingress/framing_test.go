package ingress_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/internal/ingress"
)

// TestLengthAndChunkedClosesTheConnection: a request with both
// Content-Length and Transfer-Encoding reaches the backend chunked with
// no Content-Length, and its connection closes after the response (RFC
// 9112 section 6.1): what a front proxy that framed it by the length
// would take as the body's rest is never read as a request. Both on a
// connection the fast path served until then, and on one net/http was
// already serving.
func TestLengthAndChunkedClosesTheConnection(t *testing.T) {
	var mu sync.Mutex
	var seen []string // "PATH CL=… TE=… BODY"
	b := startRawBackend(t, func(_ int64, c net.Conn, br *bufio.Reader) {
		for {
			req, body, err := readRequest(br)
			if err != nil {
				return
			}
			mu.Lock()
			seen = append(seen, req.URL.Path+" CL="+req.Header.Get("Content-Length")+" TE="+strings.Join(req.TransferEncoding, ",")+" "+body)
			mu.Unlock()
			if req.URL.Path == "/hints" {
				// A relayed 1xx must not lose the final response's
				// Connection: close.
				_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n")
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	e := oneBackend(t, b.addr(), ingress.Options{})
	both := func(path, proto string) string {
		return "POST " + path + " " + proto + "\r\nHost: a\r\nConnection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5\r\nhello\r\n0\r\n\r\n" +
			"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	}
	for _, tc := range []struct{ name, first, want, req, wantBoth string }{
		{"fast path", "GET /first HTTP/1.1\r\nHost: a\r\n\r\n", "/first CL= TE= ", both("/both", "HTTP/1.1"), "/both CL= TE=chunked hello"},
		{"net/http", keepAlive10, "/old CL= TE= ", both("/both", "HTTP/1.1"), "/both CL= TE=chunked hello"},
		{"after a 1xx", "GET /first HTTP/1.1\r\nHost: a\r\n\r\n", "/first CL= TE= ", both("/hints", "HTTP/1.1"), "/hints CL= TE=chunked hello"},
		// HTTP/1.0 has no Transfer-Encoding: the length frames the body
		// (net/http), and the connection closes all the same.
		{"HTTP/1.0", keepAlive10, "/old CL= TE= ", both("/both", "HTTP/1.0"), "/both CL=5 TE= 5\r\nhe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			rc := e.dialRaw()
			rc.send(tc.first)
			if resp, _ := rc.read("GET"); resp.StatusCode != 200 || resp.Close {
				t.Fatalf("first request: %d (close %v), want 200 kept alive", resp.StatusCode, resp.Close)
			}
			rc.send(tc.req)
			resp, body := rc.read("POST")
			for resp.StatusCode < 200 {
				resp, body = rc.read("POST")
			}
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
			}
			if !resp.Close {
				t.Errorf("the response to a request with Content-Length and Transfer-Encoding does not close the connection")
			}
			if !rc.closed() {
				t.Errorf("the connection stayed open after a request with Content-Length and Transfer-Encoding")
			}
			mu.Lock()
			defer mu.Unlock()
			want := []string{tc.want, tc.wantBoth}
			if len(seen) != len(want) || seen[0] != want[0] || seen[1] != want[1] {
				t.Errorf("backend saw %q, want %q (chunked, no Content-Length, nothing smuggled)", seen, want)
			}
		})
	}
}
