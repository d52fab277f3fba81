package h2serve

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The connection-level abuses end the connection with GOAWAY, the code
// says why; what is refused per stream gets RST_STREAM.
func TestFloodsGetGoAway(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	for _, tc := range []struct {
		name string
		cfg  Config
		send func(c *rawClient)
		want http2.ErrCode
	}{
		{"rapid reset", Config{MaxResetsPerSecond: 50}, func(c *rawClient) {
			// CVE-2023-44487: open and reset at once, without end.
			for id := uint32(1); id < 2000; id += 2 {
				if c.tryRequest(id, "GET", "/", true) != nil || c.fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"ping flood", Config{MaxControlPerSecond: 100}, func(c *rawClient) {
			for i := 0; i < 5000; i++ {
				if c.fr.WritePing(false, [8]byte{1}) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"settings flood", Config{MaxControlPerSecond: 100}, func(c *rawClient) {
			for i := 0; i < 5000; i++ {
				if c.fr.WriteSettings() != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"empty DATA flood", Config{MaxControlPerSecond: 100}, func(c *rawClient) {
			_ = c.tryRequest(1, "POST", "/", false)
			for i := 0; i < 5000; i++ {
				if c.fr.WriteData(1, false, nil) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"refused streams", Config{MaxConcurrentStreams: 2, MaxResetsPerSecond: 20}, func(c *rawClient) {
			for id := uint32(1); id < 200; id += 2 {
				if c.tryRequest(id, "GET", "/", true) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"CONTINUATION flood", Config{MaxHeaderListSize: 4096}, func(c *rawClient) {
			// CVE-2024-27316: a header block that never ends.
			block := c.headerBlock("GET", "/")
			_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: false})
			junk := bytes.Repeat([]byte{0x40, 0x01, 'x', 0x7f}, 2000) // literal, huge value length
			for i := 0; i < 1000; i++ {
				if c.fr.WriteContinuation(1, false, junk[:4000]) != nil {
					return
				}
			}
		}, http2.ErrCodeProtocol},
		{"made you reset: window overflow", Config{MaxResetsPerSecond: 50, MaxConcurrentStreams: 1 << 20}, func(c *rawClient) {
			// CVE-2025-8671: the client has the server reset the
			// streams, which the client-reset count did not see.
			for id := uint32(1); id < 2000; id += 2 {
				if c.tryRequest(id, "GET", "/", true) != nil || c.fr.WriteWindowUpdate(id, 1<<31-1) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"made you reset: content-length", Config{MaxResetsPerSecond: 50, MaxConcurrentStreams: 1 << 20}, func(c *rawClient) {
			for id := uint32(1); id < 2000; id += 2 {
				if c.tryRequest(id, "POST", "/", false, "content-length", "1") != nil || c.fr.WriteData(id, true, []byte("xx")) != nil {
					return
				}
			}
		}, http2.ErrCodeEnhanceYourCalm},
		{"DATA past the connection window", Config{StreamWindow: 16 << 10, ConnWindow: 65535}, func(c *rawClient) {
			// Within each stream's window; the handler reads nothing.
			chunk := make([]byte, 16<<10)
			for id := uint32(1); id < 12; id += 2 {
				if c.tryRequest(id, "POST", "/", false) != nil || c.fr.WriteData(id, false, chunk) != nil {
					return
				}
			}
		}, http2.ErrCodeFlowControl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.cfg, slow)
			c := dialRaw(t, s.addr())
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				tc.send(c)
			}()
			defer func() {
				c.nc.Close()
				<-sent
			}()
			code, err := c.goAway()
			if err != nil || code != tc.want {
				t.Fatalf("GOAWAY %v (err %v), want %v", code, err, tc.want)
			}
			if !c.closed() {
				t.Error("connection still open after GOAWAY")
			}
		})
	}
}

// Empty CONTINUATION frames, which the Framer would read forever, are
// bounded by the bytes a header block may take.
func TestEmptyContinuationFlood(t *testing.T) {
	s := startServer(t, Config{MaxHeaderListSize: 4096}, http.NotFoundHandler())
	c := dialRaw(t, s.addr())
	sent := make(chan struct{})
	defer func() {
		c.nc.Close()
		<-sent
	}()
	go func() {
		defer close(sent)
		_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.headerBlock("GET", "/"), EndHeaders: false})
		for i := 0; i < 1e6; i++ {
			if c.fr.WriteContinuation(1, false, nil) != nil {
				return
			}
		}
	}()
	if !c.closed() {
		t.Fatal("connection still open")
	}
}

// Per stream: more streams than SETTINGS_MAX_CONCURRENT_STREAMS are
// refused; a header list over the limit (within what the Framer
// decodes) is answered 431; malformed requests are reset.
func TestStreamLimits(t *testing.T) {
	release := make(chan struct{})
	s := startServer(t, Config{MaxConcurrentStreams: 3, MaxHeaderListSize: 2048, StreamWindow: 16 << 10}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/block":
			<-release
		case "/hold":
			<-r.Context().Done()
		}
	}))
	c := dialRaw(t, s.addr())
	for id := uint32(1); id <= 7; id += 2 {
		c.request(id, "GET", "/block", true)
	}
	var refused uint32
	if err := c.until(func(f http2.Frame) bool {
		if r, ok := f.(*http2.RSTStreamFrame); ok && r.ErrCode == http2.ErrCodeRefusedStream {
			refused = r.StreamID
			return true
		}
		return false
	}); err != nil || refused != 7 {
		t.Fatalf("refused stream %d (%v), want 7", refused, err)
	}
	close(release)
	// One stream past its window is reset, the connection serves on.
	c = dialRaw(t, s.addr())
	c.request(1, "POST", "/hold", false)
	_ = c.fr.WriteData(1, false, make([]byte, 16<<10))
	_ = c.fr.WriteData(1, false, make([]byte, 16<<10))
	_ = c.fr.WriteData(1, false, make([]byte, 16<<10))
	_ = c.fr.WriteData(1, false, make([]byte, 16<<10))
	_ = c.fr.WriteData(1, false, make([]byte, 16<<10))
	if err := c.until(func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.ErrCode == http2.ErrCodeFlowControl
	}); err != nil {
		t.Fatalf("no FLOW_CONTROL_ERROR reset: %v", err)
	}
	for _, tc := range []struct {
		name   string
		extra  []string
		status string // "" for a reset
	}{
		{"oversized headers", []string{"x-a", strings.Repeat("a", 1000), "x-b", strings.Repeat("b", 1000), "x-c", strings.Repeat("c", 1000)}, "431"},
		{"connection header", []string{"connection", "keep-alive"}, ""},
		{"te not trailers", []string{"te", "gzip"}, ""},
		{"uppercase name", []string{"X-Up", "1"}, ""},
		{"two lengths", []string{"content-length", "1", "content-length", "2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, s.addr())
			c.request(1, "GET", "/", true, tc.extra...)
			got := ""
			if err := c.until(func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.MetaHeadersFrame:
					got = f.PseudoValue("status")
					return true
				case *http2.RSTStreamFrame:
					got = "reset " + f.ErrCode.String()
					return true
				}
				return false
			}); err != nil {
				t.Fatal(err)
			}
			want := tc.status
			if want == "" {
				want = "reset PROTOCOL_ERROR"
			}
			if got != want {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

// A client that does not read gets no more than its windows allow: the
// handler is held once they are full, and the connection is dropped
// when a write stalls past WriteTimeout.
func TestSlowClientBounded(t *testing.T) {
	var written atomic.Int64
	done := make(chan error, 1)
	s := startServer(t, Config{WriteTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 4096)
		for i := 0; i < 10000; i++ {
			if _, err := w.Write(chunk); err != nil {
				done <- err
				return
			}
			written.Add(int64(len(chunk)))
		}
		done <- nil
	}))
	// A 64 KiB stream window, never updated, and reading nothing.
	c := dialRaw(t, s.addr())
	c.request(1, "GET", "/", true)
	time.Sleep(200 * time.Millisecond) // let the handler fill what it may
	if n := written.Load(); n > 65535+2*chunkSize {
		t.Errorf("handler wrote %d bytes past a 64 KiB window", n)
	}
	// The windows are opened wide and the client still reads nothing:
	// the TCP buffers fill and the write deadline closes the connection.
	_ = c.fr.WriteWindowUpdate(0, 1<<30)
	_ = c.fr.WriteWindowUpdate(1, 1<<30)
	select {
	case err := <-done:
		if err == nil {
			t.Error("the handler wrote 40 MB to a client that reads nothing")
		}
	case <-time.After(testTimeout):
		t.Fatal("the handler is still writing")
	}
}

// RST_STREAM mid-response cancels the request's context and fails the
// handler's writes; the connection serves on.
func TestResetMidResponse(t *testing.T) {
	canceled := make(chan error, 1)
	s := startServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		_, err := w.Write([]byte("more"))
		canceled <- err
	}))
	c := dialRaw(t, s.addr())
	c.request(1, "GET", "/stream", true)
	if err := c.until(func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }); err != nil {
		t.Fatal(err)
	}
	_ = c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	if err := <-canceled; err == nil {
		t.Error("a write after the reset succeeded")
	}
	c.request(3, "GET", "/", true)
	if err := c.until(func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamID == 3 }); err != nil {
		t.Fatal(err)
	}
}

// Shutdown sends GOAWAY, lets the stream in flight finish, and closes.
func TestGracefulShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s := startServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	c := goClient(t)
	got := make(chan string, 1)
	go func() {
		resp, err := c.Get("http://" + s.addr() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	s.shutdown()
	close(release)
	if g := <-got; g != "finished" {
		t.Errorf("in-flight request: %q", g)
	}
	s.mu.Lock()
	conn := s.conns[0]
	s.mu.Unlock()
	select {
	case <-conn.Done():
	case <-time.After(testTimeout):
		t.Fatal("the connection is still open after Shutdown")
	}
}
