package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
)

// startManagers starts n managers in this process on 127.0.0.11.., the
// first bootstrapping the cluster and the others joining it with the
// manager token. The caller closes them.
func startManagers(b *testing.B, n int) []*daemon.Dev {
	b.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	var ds []*daemon.Dev
	for i := range n {
		addr := fmt.Sprintf("127.0.0.%d", 11+i)
		cfg := daemon.DevConfig{DataDir: b.TempDir(), Logger: log, Addr: addr, AgentListen: addr + ":0"}
		if i > 0 {
			sw, err := clientOf(b, ds[0]).SwarmInspect(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			cfg.Join, cfg.JoinToken = ds[0].AgentAddr(), sw.JoinTokens.Manager
		}
		d, err := daemon.StartDev(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

func clientOf(b *testing.B, d *daemon.Dev) *client.Client {
	c, err := client.New(d.Host())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkLeaderFailover starts 3 managers per iteration, stops the
// leader's process parts at once (its peers see what they see of a
// SIGKILL: the connections close, nothing is said) and times until a
// write through a survivor's API is acknowledged.
func BenchmarkLeaderFailover(b *testing.B) {
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ds := startManagers(b, 3)
		survivor := clientOf(b, ds[1])
		b.StartTimer()
		start := time.Now()
		ds[0].Close()
		for n := 0; ; n++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := survivor.ConfigCreate(ctx, api.ConfigSpec{Name: fmt.Sprintf("c%d", n), Data: []byte("x")})
			cancel()
			if err == nil || strings.Contains(err.Error(), "already exists") {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("no write a minute after the leader went: %v", err)
			}
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		ds[1].Close()
		ds[2].Close()
		b.StartTimer()
	}
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
}

// BenchmarkRaftApply3Managers is BenchmarkRaftApply on the leader of 3
// managers: every write is replicated over mutual TLS to a majority.
func BenchmarkRaftApply3Managers(b *testing.B) {
	ds := startManagers(b, 3)
	b.Cleanup(func() {
		for _, d := range ds {
			d.Close()
		}
	})
	raftApply(b, ds[0].Manager(), ds[0].NodeID(), "127.0.0.11")
}
