package ui

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRelayDropsABrowserThatFallsBehind(t *testing.T) {
	rl := newRelay()
	slow, fast := rl.subscribe(), rl.subscribe()
	for i := range subscriberQueue + 1 {
		rl.broadcast([]byte{byte(i)})
		<-fast // a browser that keeps up
	}
	n := 0
	for range slow { // closed once it overflowed
		n++
	}
	if n != subscriberQueue {
		t.Fatalf("slow browser got %d queued events, want %d then the end", n, subscriberQueue)
	}
	rl.broadcast([]byte("x"))
	if got := <-fast; string(got) != "x" {
		t.Fatalf("the browser that keeps up got %q", got)
	}
	rl.unsubscribe(fast)
	rl.unsubscribe(slow) // already dropped: no double close
}

func TestRelayBoundsItsStreams(t *testing.T) {
	rl := newRelay()
	for range maxStreams {
		if rl.subscribe() == nil {
			t.Fatal("refused a stream under the limit")
		}
	}
	rec := httptest.NewRecorder()
	rl.serveEvents(rec, httptest.NewRequest("GET", "/ui/api/events", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("stream over the limit: %d, want 503", rec.Code)
	}
}

func TestServeEventsStreamsServerSentEvents(t *testing.T) {
	rl := newRelay()
	srv := httptest.NewServer(http.HandlerFunc(rl.serveEvents))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	go func() {
		for ctx.Err() == nil {
			rl.broadcast(resync)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "event: resync") {
			cancel()
			return
		}
	}
	t.Fatalf("no event came: %v", sc.Err())
}

func TestRelayCloseEndsStreams(t *testing.T) {
	rl := newRelay()
	ch := rl.subscribe()
	rl.close()
	if _, ok := <-ch; ok {
		t.Fatal("a stream outlived close")
	}
	if rl.subscribe() != nil {
		t.Fatal("a closed relay took a stream")
	}
}

// The relay follows the cluster's events only while a browser streams:
// none before the first, one for many, none after the last leaves, and
// a new one for the next browser.
func TestRelayFollowsOnlyWhileBrowsersStream(t *testing.T) {
	rl := newRelay()
	ctx, cancel := context.WithCancel(context.Background())
	running := make(chan bool)
	served := make(chan struct{})
	go func() {
		defer close(served)
		rl.serve(ctx, func(ctx context.Context) {
			running <- true
			<-ctx.Done()
			running <- false
		})
	}()
	follows := func() int {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		return rl.follows
	}
	a := rl.subscribe()
	if !<-running {
		t.Fatal("no follower for the first browser")
	}
	b := rl.subscribe()
	rl.unsubscribe(a)
	if n := follows(); n != 1 {
		t.Fatalf("%d followers for two browsers, want 1", n)
	}
	rl.unsubscribe(b)
	if <-running {
		t.Fatal("follower did not stop with the last browser")
	}
	c := rl.subscribe()
	if !<-running || follows() != 2 {
		t.Fatalf("no new follower for a browser that came back (%d started)", follows())
	}
	cancel()
	if <-running {
		t.Fatal("follower outlived run")
	}
	<-served
	rl.unsubscribe(c)
	if n := follows(); n != 2 {
		t.Fatalf("%d followers, want 2", n)
	}
}

// Browsers coming and going fast while the dashboard shuts down leave no
// follower running: serve returns once every follower it started has
// (goleak in TestMain checks nothing else is left). A follower told to
// stop may still be ending when the next browser's starts.
func TestRelayRapidStreamsAndShutdown(t *testing.T) {
	rl := newRelay()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	live := 0 // followers that have not returned
	served := make(chan struct{})
	go func() {
		defer close(served)
		rl.serve(ctx, func(ctx context.Context) {
			mu.Lock()
			live++
			mu.Unlock()
			<-ctx.Done()
			mu.Lock()
			live--
			mu.Unlock()
		})
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if ch := rl.subscribe(); ch != nil {
					rl.unsubscribe(ch)
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after its context ended")
	}
	if ch := rl.subscribe(); ch != nil {
		rl.unsubscribe(ch)
	}
	mu.Lock()
	defer mu.Unlock()
	if live != 0 {
		t.Fatalf("%d followers outlived serve", live)
	}
}
