package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/testutil/mgrproc"
)

// managerCluster builds shoal and starts n `shoal manager` processes on
// loopback addresses (internal/testutil/mgrproc).
func managerCluster(b *testing.B, n int) *mgrproc.Cluster {
	b.Helper()
	bin, err := mgrproc.Build(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return mgrproc.Start(b, bin, n, mgrproc.Options{})
}

func leaderOf(b *testing.B, cl *mgrproc.Cluster) *mgrproc.Manager {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := cl.Leader(ctx)
	if err != nil {
		b.Fatalf("%v\n%s", err, cl.Logs(20))
	}
	return l
}

// BenchmarkLeaderSIGKILL: SIGKILL of the leader of 3 managers → the first
// acknowledged write, sent through a surviving manager (which forwards it
// to the leader it learns of) again and again until one is acknowledged.
// One kill per iteration; the killed manager is restarted, and the
// cluster agrees on a leader again, between iterations.
// Run with -benchtime=20x.
func BenchmarkLeaderSIGKILL(b *testing.B) {
	cl := managerCluster(b, 3)
	ctx := context.Background()
	var lat []time.Duration
	retries := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := leaderOf(b, cl)
		var others []*mgrproc.Manager
		for _, m := range cl.Managers {
			if m != l {
				others = append(others, m)
			}
		}
		// The survivors take writes before the kill (a starved machine
		// may move the leadership meanwhile: then measure that leader).
		if _, err := others[0].Client().ConfigCreate(ctx, api.ConfigSpec{Name: fmt.Sprintf("warm-%d", i), Data: []byte("x")}); err != nil {
			if retries++; retries > 20 {
				b.Fatalf("write before the kill: %v", err)
			}
			b.Logf("write before the kill: %v; again", err)
			b.StartTimer()
			i--
			continue
		}
		b.StartTimer()
		t0 := time.Now()
		l.Kill()
		for n := 0; ; n++ {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := others[n%2].Client().ConfigCreate(wctx, api.ConfigSpec{Name: fmt.Sprintf("after-%d-%d", i, n), Data: []byte("x")})
			cancel()
			if err == nil {
				break
			}
			if time.Since(t0) > time.Minute {
				b.Fatalf("no write acknowledged a minute after the kill: %v\n%s", err, cl.Logs(20))
			}
		}
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		if err := l.Restart(); err != nil {
			b.Fatal(err)
		}
		leaderOf(b, cl)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(lat, 1)), "max-ms")
}

// BenchmarkManagerWrites: config creates through the leader's API from 8
// concurrent clients, on 1 manager and on 3 (each write then commits on
// a majority, every manager fsyncing its log), in the same run.
func BenchmarkManagerWrites(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("managers=%d", n), func(b *testing.B) {
			cl := managerCluster(b, n)
			c := leaderOf(b, cl).Client()
			ctx := context.Background()
			var next, failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						// A leader that steps down under load (its lease
						// runs out on a starved machine) fails the writes
						// in flight; they are counted, not retried.
						if _, err := c.ConfigCreate(ctx, api.ConfigSpec{Name: fmt.Sprintf("w-%d", i), Data: []byte("x")}); err != nil {
							if failed.Add(1) == 1 {
								b.Logf("write failed: %v", err)
							}
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if f := failed.Load(); f*100 > int64(b.N) {
				b.Fatalf("%d of %d writes failed", f, b.N)
			}
			b.ReportMetric(float64(b.N-int(failed.Load()))/elapsed.Seconds(), "writes/s")
			b.ReportMetric(float64(failed.Load()), "failed")
		})
	}
}
