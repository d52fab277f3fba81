package h2serve

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/shoalproject/shoal/internal/testutil"
)

// A client with small windows (64 KiB, the RFC's default, as nghttp's
// and many libraries' are) that reads every response as fast as it
// can still gets all of them when it runs more streams at once than
// MaxBlockedBytes has 16 KiB chunks for: a stream waiting for window
// the client is busy granting is not abuse.
func TestBlockedBytesCapSparesReadingClient(t *testing.T) {
	cert, _ := testutil.SelfSignedCert(t, "127.0.0.1")
	body := make([]byte, 256<<10)
	s := startServerTLS(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body)
	}), &tls.Config{Certificates: []tls.Certificate{cert}})
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}},
		ForceAttemptHTTP2: true,
		HTTP2:             &http.HTTP2Config{MaxReceiveBufferPerConnection: 64 << 10, MaxReceiveBufferPerStream: 64 << 10},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: testTimeout}
	// One stream first: the rest share its connection.
	if resp, err := hc.Get("https://" + s.addr() + "/"); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	} else {
		t.Fatal(err)
	}
	const n = 150
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Get(fmt.Sprintf("https://%s/%d", s.addr(), i))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			got, err := io.Copy(io.Discard, resp.Body)
			if err != nil || got != int64(len(body)) || resp.ProtoMajor != 2 {
				errs <- fmt.Errorf("stream %d: %s, %d bytes: %v", i, resp.Proto, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	var first error
	for err := range errs {
		if failed++; first == nil {
			first = err
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d responses failed, first: %v", failed, n, first)
	}
}
