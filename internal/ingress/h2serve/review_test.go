package h2serve

import (
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// A stream whose window the client shrinks below what was already sent
// (SETTINGS_INITIAL_WINDOW_SIZE lowered mid-stream: the window goes
// negative, RFC 9113 section 6.9.2) ends cleanly when its handler
// returns with nothing left to send; it used to take a negative amount
// of window and panic outside the handler's recover, ending the process.
func TestNegativeWindowAtEnd(t *testing.T) {
	release := make(chan struct{})
	s := startServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		<-release
	}))
	c := dialRaw(t, s.addr())
	c.request(1, "GET", "/", true)
	if err := c.until(func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamID == 1 }); err != nil {
		t.Fatal(err)
	}
	_ = c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	if err := c.until(func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() }); err != nil {
		t.Fatal(err)
	}
	close(release)
	// The stream still ends (with END_STREAM, an empty DATA frame taking
	// no window) and the connection serves on.
	if err := c.until(func(f http2.Frame) bool {
		return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
	}); err != nil {
		t.Fatal(err)
	}
	_ = c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
	c.request(3, "GET", "/", true)
	if err := c.until(func(f http2.Frame) bool { h, ok := f.(*http2.MetaHeadersFrame); return ok && h.StreamID == 3 }); err != nil {
		t.Fatal(err)
	}
}

// A request body read more slowly than it comes, never drained to the
// last byte, is held within the stream window: the bytes read are not
// kept (they used to be, up to the whole body).
func TestBodyBufferBounded(t *testing.T) {
	const window = 64 << 10
	step := make(chan struct{})
	maxCap := make(chan int, 1)
	s := startServer(t, Config{StreamWindow: window, ConnWindow: 1 << 20}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := r.Body.(*requestBody)
		buf := make([]byte, window/4)
		most := 0
		for range step {
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				break
			}
			body.st.c.mu.Lock()
			most = max(most, cap(body.st.buf))
			body.st.c.mu.Unlock()
		}
		maxCap <- most
	}))
	c := dialRaw(t, s.addr())
	c.request(1, "POST", "/", false)
	chunk := make([]byte, window/4)
	for i := 0; i < 4; i++ {
		_ = c.fr.WriteData(1, false, chunk)
	}
	for i := 0; i < 400; i++ { // 6.4 MB through a 64 KiB window
		step <- struct{}{}
		if err := c.until(func(f http2.Frame) bool { u, ok := f.(*http2.WindowUpdateFrame); return ok && u.StreamID == 1 }); err != nil {
			t.Fatal(err)
		}
		if err := c.fr.WriteData(1, false, chunk); err != nil {
			t.Fatal(err)
		}
	}
	close(step)
	if got := <-maxCap; got > 4*window {
		t.Errorf("the body buffer grew to %d bytes with a %d-byte window", got, window)
	}
}

// A client that never opens its window holds a handler (and its backend
// connection) no longer than WriteTimeout: nothing is written, so the
// write deadline alone would never fire.
func TestShutWindowTimesOut(t *testing.T) {
	done := make(chan error, 1)
	s := startServer(t, Config{WriteTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := w.Write(make([]byte, 100<<10))
		done <- err
	}))
	c := dialRaw(t, s.addr(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	c.request(1, "GET", "/", true)
	code, err := c.reset()
	if err != nil {
		t.Fatalf("no RST_STREAM: %v", err)
	}
	if err := <-done; err == nil {
		t.Error("the handler's write succeeded")
	}
	t.Logf("reset with %v", code)
}

// Requests whose pseudo-header fields could not be written as an
// HTTP/1.1 request line, or whose authority is not a host, are
// malformed (stream error PROTOCOL_ERROR); the handler never sees them.
func TestMalformedPseudoHeaders(t *testing.T) {
	s := startServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("handler called for %q %q host %q", r.Method, r.RequestURI, r.Host)
	}))
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"space in method", []string{":method", "GET /admin?", ":scheme", "https", ":authority", "example.com", ":path", "/public"}},
		{"tab in method", []string{":method", "GET\t/admin", ":scheme", "https", ":authority", "example.com", ":path", "/"}},
		{"space in path", []string{":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/public?a /admin"}},
		{"tab in path", []string{":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/a\tb"}},
		{"scheme", []string{":method", "GET", ":scheme", "gopher", ":authority", "example.com", ":path", "/"}},
		{"authority", []string{":method", "GET", ":scheme", "https", ":authority", "exa mple.com", ":path", "/"}},
		{"userinfo", []string{":method", "GET", ":scheme", "https", ":authority", "user@example.com", ":path", "/"}},
		{"host mismatch", []string{":method", "GET", ":scheme", "https", ":authority", "example.com", ":path", "/", "host", "other.example"}},
		{"two hosts", []string{":method", "GET", ":scheme", "https", ":path", "/", "host", "a.example", "host", "b.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, s.addr())
			c.hbuf.Reset()
			for i := 0; i < len(tc.fields); i += 2 {
				_ = c.enc.WriteField(hpack.HeaderField{Name: tc.fields[i], Value: tc.fields[i+1]})
			}
			if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
				t.Fatal(err)
			}
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
			if got != "reset PROTOCOL_ERROR" {
				t.Errorf("got %s, want reset PROTOCOL_ERROR", got)
			}
		})
	}
}

// reset reads frames until RST_STREAM and returns its code.
func (c *rawClient) reset() (http2.ErrCode, error) {
	var code http2.ErrCode
	err := c.until(func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		if ok {
			code = r.ErrCode
		}
		return ok
	})
	return code, err
}
