package h2serve

import (
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// A stream the server resets for a frame in error (here trailers with
// an invalid field name) ends its handler's wait for window at once:
// it does not hold its blocked bytes, handler and backend for
// WriteTimeout.
func TestStreamErrorEndsWindowWait(t *testing.T) {
	done := make(chan error, 1)
	s := startServer(t, Config{WriteTimeout: 10 * time.Second}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := w.Write(make([]byte, 40<<10)) // waits: the window is shut
		done <- err
	}))
	c := dialRaw(t, s.addr(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	c.request(1, "POST", "/", false)
	if err := c.until(func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the handler waits for window
	c.hbuf.Reset()
	_ = c.enc.WriteField(hpack.HeaderField{Name: "Bad Name", Value: "x"})
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("the handler's write succeeded")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the handler still waits for window 2s after its stream was reset")
	}
}
