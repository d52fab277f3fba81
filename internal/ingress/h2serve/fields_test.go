package h2serve

import (
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// DATA or HEADERS on a half-closed (remote) stream are a stream error
// STREAM_CLOSED (RFC 9113 section 5.1): the stream ends, its handler's
// context with it, and the connection serves on.
func TestHalfClosedRemoteFrames(t *testing.T) {
	canceled := make(chan struct{}, 2)
	s := startServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-r.Context().Done()
			canceled <- struct{}{}
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	for _, tc := range []struct {
		name string
		send func(c *rawClient) error
	}{
		{"data", func(c *rawClient) error { return c.fr.WriteData(1, false, []byte("late")) }},
		{"headers", func(c *rawClient) error { return c.tryRequest(1, "GET", "/hold", true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, s.addr())
			c.request(1, "GET", "/hold", true)
			if err := tc.send(c); err != nil {
				t.Fatal(err)
			}
			if code, err := c.reset(); err != nil || code != http2.ErrCodeStreamClosed {
				t.Fatalf("reset %v (%v), want STREAM_CLOSED", code, err)
			}
			select {
			case <-canceled:
			case <-time.After(testTimeout):
				t.Fatal("the handler still runs after the reset")
			}
			c.request(3, "GET", "/", true)
			if err := c.until(func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamID == 3 }); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A request's Trailer may not announce fields that must come first
// (Host, Authorization, Content-Type...): they are not taken as trailers.
func TestRequestTrailersFiltered(t *testing.T) {
	got := make(chan http.Header, 1)
	s := startServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- r.Trailer
	}))
	c := dialRaw(t, s.addr())
	c.request(1, "POST", "/", false, "trailer", "host, authorization, x-checksum")
	_ = c.fr.WriteData(1, false, []byte("body"))
	c.hbuf.Reset()
	for _, kv := range [][2]string{{"host", "evil.example"}, {"authorization", "Basic x"}, {"x-checksum", "1"}} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	tr := <-got
	if len(tr) != 1 || tr.Get("X-Checksum") != "1" {
		t.Errorf("trailers %v, want X-Checksum alone", tr)
	}
}

// Response fields a client would refuse (a name that is not a token, a
// value with CR, LF or NUL) are left out, the others sent.
func TestInvalidResponseFieldsLeftOut(t *testing.T) {
	s := startServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Bad Name"] = []string{"1"}
		w.Header()["X-Split"] = []string{"a\r\nx-injected: 1"}
		w.Header()["X-Nul"] = []string{"a\x00b"}
		w.Header().Set("X-Good", "1")
	}))
	c := dialRaw(t, s.addr())
	c.request(1, "GET", "/", true)
	var fields []hpack.HeaderField
	if err := c.until(func(f http2.Frame) bool {
		h, ok := f.(*http2.MetaHeadersFrame)
		if ok {
			fields = h.Fields
		}
		return ok
	}); err != nil {
		t.Fatalf("no response HEADERS: %v", err)
	}
	good := false
	for _, f := range fields {
		switch f.Name {
		case "x-good":
			good = true
		case "bad name", "x-split", "x-nul":
			t.Errorf("sent %q: %q", f.Name, f.Value)
		}
	}
	if !good {
		t.Errorf("x-good missing from %v", fields)
	}
}
