package h2serve

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// HPACK amplification: a header of 4000 bytes sent once goes into the
// dynamic table, and every later reference to it costs the client a
// byte or two; each request stays under MaxHeaderListSize, but the
// connection's requests together hold no more than MaxConnHeaderBytes:
// the streams past it are refused.
func TestHPACKAmplificationBoundedPerConnection(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	s := startServer(t, Config{MaxHeaderListSize: 64 << 10}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		<-release
	}))
	defer s.shutdown()
	defer close(release)
	c := dialRaw(t, s.addr())
	big := strings.Repeat("a", 4000)
	var extra []string
	for range 15 { // 15 × 4037 bytes decoded: under 64 KiB
		extra = append(extra, "x-big", big)
	}
	wire := 0
	for i := range 10 {
		block := c.headerBlock("GET", "/", extra...)
		if i > 0 {
			wire += len(block)
		}
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("9 requests of 60 KiB decoded took %d bytes on the wire", wire)
	refused := map[uint32]bool{}
	err := c.until(func(f http2.Frame) bool {
		if r, ok := f.(*http2.RSTStreamFrame); ok && r.ErrCode == http2.ErrCodeRefusedStream {
			refused[r.StreamID] = true
		}
		return len(refused) == 6
	})
	if err != nil {
		t.Fatalf("%d streams refused, want 6: %v", len(refused), err)
	}
	// The admitted streams' handlers start on their own goroutines,
	// maybe after the refusals were read.
	for deadline := time.Now().Add(testTimeout); started.Load() < 4 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := started.Load(); n != 4 {
		t.Errorf("%d handlers run, want 4 (256 KiB of header lists)", n)
	}
}

// A client that opens its window a byte at a time still has its
// stream reset after WriteTimeout: each grant used to put the wait off.
func TestTrickledWindowTimesOut(t *testing.T) {
	done := make(chan error, 1)
	s := startServer(t, Config{WriteTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := w.Write(make([]byte, 100<<10))
		done <- err
	}))
	c := dialRaw(t, s.addr(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	c.request(1, "GET", "/", true)
	type result struct {
		code http2.ErrCode
		err  error
	}
	reset := make(chan result, 1)
	go func() {
		code, err := c.reset()
		reset <- result{code, err}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(3 * time.Second)
	for {
		select {
		case r := <-reset:
			if r.err != nil || r.code != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("reset %v, %v; want ENHANCE_YOUR_CALM", r.code, r.err)
			}
			if err := <-done; err == nil {
				t.Error("the handler's write succeeded")
			}
			return
		case <-tick.C:
			if err := c.fr.WriteWindowUpdate(1, 1); err != nil {
				t.Fatal(err)
			}
		case <-giveUp:
			t.Fatal("the stream still lives 3s into a trickled window (WriteTimeout 300ms)")
		}
	}
}

// The response bytes held by writers waiting for shut windows are
// bounded per connection: past MaxBlockedBytes the streams are reset at
// once rather than held for WriteTimeout.
func TestBlockedWritersBounded(t *testing.T) {
	s := startServer(t, Config{WriteTimeout: 10 * time.Second, MaxBlockedBytes: 64 << 10}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 40<<10)) // a 16 KiB chunk waits
	}))
	c := dialRaw(t, s.addr(), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	for i := range 8 {
		c.request(uint32(2*i+1), "GET", "/", true)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	calm := 0
	err := c.until(func(f http2.Frame) bool {
		if r, ok := f.(*http2.RSTStreamFrame); ok && r.ErrCode == http2.ErrCodeEnhanceYourCalm {
			calm++
		}
		return calm == 4
	})
	if err != nil {
		t.Fatalf("%d streams reset within 3s, want 4 (8 × 16 KiB waiting, 64 KiB allowed): %v", calm, err)
	}
}

// Header lists past MaxHeaderListSize are answered 431 and count as
// resets: a client sending nothing else gets GOAWAY ENHANCE_YOUR_CALM
// once past MaxResetsPerSecond.
func TestOversizedHeaderListsCountAsResets(t *testing.T) {
	s := startServer(t, Config{MaxHeaderListSize: 1024, MaxResetsPerSecond: 5}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	c := dialRaw(t, s.addr())
	v := strings.Repeat("b", 500)
	for i := range 10 {
		if err := c.tryRequest(uint32(2*i+1), "GET", "/", true, "x-a", v, "x-b", v, "x-c", v); err != nil {
			break // the server may close first
		}
	}
	if code, err := c.goAway(); err != nil || code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v, %v; want ENHANCE_YOUR_CALM", code, err)
	}
}
