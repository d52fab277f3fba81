package h2serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 10 * time.Second

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// server serves h on a loopback listener with cfg; its connections
// speak HTTP/2 with prior knowledge (no TLS: the server does not care).
type server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []*Conn
	wg    sync.WaitGroup
}

func startServer(t *testing.T, cfg Config, h http.Handler) *server {
	t.Helper()
	return startServerTLS(t, cfg, h, nil)
}

// startServerTLS is startServer over TLS with tc, when not nil,
// offering h2 only.
func startServerTLS(t *testing.T, cfg Config, h http.Handler, tc *tls.Config) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tc != nil {
		tc = tc.Clone()
		tc.NextProtos = []string{"h2"}
		ln = tls.NewListener(ln, tc)
	}
	if cfg.ErrorLog == nil {
		cfg.ErrorLog = quietLog
	}
	s := &server{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			st := &tls.ConnectionState{}
			if tc, ok := nc.(*tls.Conn); ok {
				if tc.Handshake() != nil {
					_ = nc.Close()
					continue
				}
				*st = tc.ConnectionState()
			}
			c := NewConn(nc, &cfg, h, ConnInfo{RemoteAddr: nc.RemoteAddr().String(), TLS: st})
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_ = c.Serve()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.cancel()
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Shutdown()
	}
}

// goClient is x/net's HTTP/2 client with prior knowledge.
func goClient(t *testing.T) *http.Client {
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// rawClient speaks frames to the server directly.
type rawClient struct {
	t    *testing.T
	nc   net.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

func dialRaw(t *testing.T, addr string, settings ...http2.Setting) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(testTimeout))
	c := &rawClient{t: t, nc: nc, fr: http2.NewFramer(nc, nc)}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(65536, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	if _, err := io.WriteString(nc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return c
}

// headerBlock encodes a GET of path, with extra fields.
func (c *rawClient) headerBlock(method, path string, extra ...string) []byte {
	c.hbuf.Reset()
	fields := append([]string{":method", method, ":scheme", "https", ":authority", "example.com", ":path", path}, extra...)
	for i := 0; i < len(fields); i += 2 {
		_ = c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), c.hbuf.Bytes()...)
}

func (c *rawClient) request(id uint32, method, path string, end bool, extra ...string) {
	c.t.Helper()
	if err := c.tryRequest(id, method, path, end, extra...); err != nil {
		c.t.Fatal(err)
	}
}

// tryRequest is request for a goroutine other than the test's.
func (c *rawClient) tryRequest(id uint32, method, path string, end bool, extra ...string) error {
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.headerBlock(method, path, extra...),
		EndStream: end, EndHeaders: true})
}

// until reads frames until match returns true, answering nothing; it
// returns the error that ended the connection, if it did first.
func (c *rawClient) until(match func(http2.Frame) bool) error {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return err
		}
		if match(f) {
			return nil
		}
	}
}

// goAway waits for the server's GOAWAY and returns its code.
func (c *rawClient) goAway() (http2.ErrCode, error) {
	var code http2.ErrCode
	err := c.until(func(f http2.Frame) bool {
		if g, ok := f.(*http2.GoAwayFrame); ok {
			code = g.ErrCode
			return true
		}
		return false
	})
	return code, err
}

// closed reports whether the server closed the connection (reads end).
func (c *rawClient) closed() bool {
	err := c.until(func(http2.Frame) bool { return false })
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}
