// Package netperf measures one TCP path: request/response round trips of
// one byte over one persistent connection (netperf's TCP_RR), and bulk
// throughput one way (TCP_STREAM). The networking benchmark
// (bench/net_test.go) runs both ends as the program bench/cmd/netperf in
// containers, so that every path is measured by the same code.
//
// The protocol is one byte that picks the test, then:
//
//   - 'e' (echo): the server writes back every byte it reads, until EOF.
//   - 'b' (bulk): the server discards what it reads until EOF, then
//     writes the byte count as 8 bytes, big-endian, and closes.
//
// The server bounds what a client can take: Options.MaxConns connections
// at once, each closed after Options.MaxConnLife.
package netperf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// Test bytes, the first byte a client sends.
const (
	modeEcho = 'e'
	modeBulk = 'b'
)

// bulkChunk is the size of one write of the bulk test.
const bulkChunk = 128 << 10

// maxSamples bounds the latencies one round-trip test keeps (32 MiB);
// past it the test ends early.
const maxSamples = 4 << 20

// Options bound a server.
type Options struct {
	// MaxConns is how many connections are served at once; more are
	// closed at accept. Default 16.
	MaxConns int
	// MaxConnLife closes a connection this long after it was accepted.
	// Default 10 minutes.
	MaxConnLife time.Duration
}

// Serve answers the tests on ln until ctx ends, then closes ln and waits
// for its connections to end.
func Serve(ctx context.Context, ln net.Listener, o Options) error {
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.MaxConnLife <= 0 {
		o.MaxConnLife = 10 * time.Minute
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, o.MaxConns)
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	closeAll := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range open {
			c.Close()
		}
	})
	defer closeAll()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		select {
		case slots <- struct{}{}:
		default:
			c.Close()
			continue
		}
		mu.Lock()
		open[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			defer func() {
				mu.Lock()
				delete(open, c)
				mu.Unlock()
				c.Close()
				<-slots
			}()
			_ = c.SetDeadline(time.Now().Add(o.MaxConnLife))
			serveConn(c)
		})
	}
}

// serveConn answers one connection's test.
func serveConn(c net.Conn) {
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case modeEcho:
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	case modeBulk:
		n, err := io.Copy(io.Discard, c)
		if err != nil {
			return
		}
		var count [8]byte
		binary.BigEndian.PutUint64(count[:], uint64(n))
		_, _ = c.Write(count[:])
	}
}

// RRResult is a round-trip test's outcome. Times are in microseconds.
type RRResult struct {
	RoundTrips int     `json:"round_trips"`
	PerSecond  float64 `json:"per_s"`
	MeanUS     float64 `json:"mean_us"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
}

// RR sends one byte and waits for it to come back, over one connection to
// addr, for d, and returns the round trips' figures. The connection is
// dialled with dial (a net.Dialer's DialContext, say).
func RR(ctx context.Context, dial DialFunc, addr string, d time.Duration) (RRResult, error) {
	c, done, err := open(ctx, dial, addr, d)
	if err != nil {
		return RRResult{}, err
	}
	defer done()
	if _, err := c.Write([]byte{modeEcho}); err != nil {
		return RRResult{}, fmt.Errorf("rr %s: %w", addr, err)
	}
	var lat []time.Duration
	msg := []byte{'x'}
	var back [1]byte
	start := time.Now()
	end := start.Add(d)
	last := start
	for last.Before(end) && len(lat) < maxSamples {
		if _, err := c.Write(msg); err != nil {
			return RRResult{}, fmt.Errorf("rr %s: %w", addr, err)
		}
		if _, err := io.ReadFull(c, back[:]); err != nil {
			return RRResult{}, fmt.Errorf("rr %s: %w", addr, err)
		}
		now := time.Now()
		lat = append(lat, now.Sub(last))
		last = now
	}
	if len(lat) == 0 {
		return RRResult{}, errors.New("rr: no round trip")
	}
	elapsed := last.Sub(start)
	slices.Sort(lat)
	us := func(x time.Duration) float64 { return float64(x) / float64(time.Microsecond) }
	return RRResult{
		RoundTrips: len(lat),
		PerSecond:  float64(len(lat)) / elapsed.Seconds(),
		MeanUS:     us(elapsed) / float64(len(lat)),
		P50US:      us(lat[len(lat)/2]),
		P99US:      us(lat[(len(lat)-1)*99/100]),
	}, nil
}

// BulkResult is a throughput test's outcome.
type BulkResult struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// MBPerS is in 10^6 bytes a second.
	MBPerS float64 `json:"mb_per_s"`
}

// Bulk writes to addr as fast as it can for d, then waits until the server
// says it received every byte; the time runs until then.
func Bulk(ctx context.Context, dial DialFunc, addr string, d time.Duration) (BulkResult, error) {
	c, done, err := open(ctx, dial, addr, d)
	if err != nil {
		return BulkResult{}, err
	}
	defer done()
	buf := make([]byte, bulkChunk)
	buf[0] = modeBulk
	start := time.Now()
	end := start.Add(d)
	var sent int64
	for {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			return BulkResult{}, fmt.Errorf("bulk %s: %w", addr, err)
		}
		if !time.Now().Before(end) {
			break
		}
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return BulkResult{}, fmt.Errorf("bulk %s: connection cannot half-close", addr)
	}
	if err := cw.CloseWrite(); err != nil {
		return BulkResult{}, fmt.Errorf("bulk %s: %w", addr, err)
	}
	var count [8]byte
	if _, err := io.ReadFull(c, count[:]); err != nil {
		return BulkResult{}, fmt.Errorf("bulk %s: no count back: %w", addr, err)
	}
	elapsed := time.Since(start)
	got := int64(binary.BigEndian.Uint64(count[:]))
	if got != sent-1 {
		return BulkResult{}, fmt.Errorf("bulk %s: server received %d bytes, %d were sent", addr, got, sent-1)
	}
	return BulkResult{Bytes: got, Seconds: elapsed.Seconds(), MBPerS: float64(got) / elapsed.Seconds() / 1e6}, nil
}

// DialFunc opens a connection, as net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// open dials addr for a test that runs for d: the connection is closed
// when ctx ends, and fails 30 s after the test should have ended. done
// closes it.
func open(ctx context.Context, dial DialFunc, addr string, d time.Duration) (c net.Conn, done func(), err error) {
	c, err = dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(d + 30*time.Second))
	return c, func() {
		stop()
		c.Close()
	}, nil
}
