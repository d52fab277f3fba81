package netperf

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve runs a server on loopback until the test ends and returns its
// address.
func serve(t *testing.T, o Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// Round trips are counted and timed, and bulk bytes all reach the server
// before the time stops.
func TestRRAndBulkOverLoopback(t *testing.T) {
	addr := serve(t, Options{})
	var d net.Dialer
	rr, err := RR(context.Background(), d.DialContext, addr, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if rr.RoundTrips < 10 || rr.PerSecond <= 0 || rr.P50US <= 0 || rr.P99US < rr.P50US || rr.MeanUS <= 0 {
		t.Errorf("RR = %+v", rr)
	}
	bulk, err := Bulk(context.Background(), d.DialContext, addr, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if bulk.Bytes < bulkChunk || bulk.MBPerS <= 0 || bulk.Seconds < 0.1 {
		t.Errorf("Bulk = %+v", bulk)
	}
}

// A connection over MaxConns is closed at accept, and Serve's end closes
// the connections it serves.
func TestServeBoundsConnections(t *testing.T) {
	addr := serve(t, Options{MaxConns: 1})
	first, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if _, err := first.Write([]byte{modeEcho, 'x'}); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := first.Read(b[:]); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	second, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	second.Write([]byte{modeEcho, 'x'})
	if _, err := second.Read(b[:]); err == nil {
		t.Error("a second connection over MaxConns 1 was served")
	}
}
