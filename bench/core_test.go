package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/state"
)

func startDev(b *testing.B) (*daemon.Dev, *client.Client) {
	b.Helper()
	return startDevWith(b, daemon.DevConfig{})
}

// startDevWith starts a dev cluster with cfg (data folder and logger filled
// in) and, at cleanup, removes its services, waits for their tasks to go,
// and closes it.
func startDevWith(b *testing.B, cfg daemon.DevConfig) (*daemon.Dev, *client.Client) {
	b.Helper()
	cfg.DataDir = b.TempDir()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := daemon.StartDev(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.New(d.Host())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		svcs, _ := c.ServiceList(ctx)
		for _, s := range svcs {
			c.ServiceRemove(ctx, s.ID)
		}
		if err := waitStore(ctx, d.Manager().Store(), func(tx *state.ReadTx) bool { return len(tx.Tasks()) == 0 }); err != nil {
			b.Errorf("cleanup: tasks left: %v", err)
		}
		if err := d.Close(); err != nil {
			b.Errorf("cleanup: close: %v", err)
		}
	})
	return d, c
}

// waitStore waits on the store's events until cond holds.
func waitStore(ctx context.Context, s *state.Store, cond func(*state.ReadTx) bool) error {
	tx, sub := s.Subscribe()
	defer sub.Close()
	for !cond(tx) {
		if _, err := sub.Next(ctx); err != nil {
			return err
		}
		tx = s.Read()
	}
	return nil
}

func runningTasks(tx *state.ReadTx, serviceID string) []*api.Task {
	var out []*api.Task
	for _, t := range tx.TasksByService(serviceID) {
		if t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning {
			out = append(out, t)
		}
	}
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// selfHeal takes a running task of the service down with kill once per
// iteration, and times until a replacement of its slot runs (waiting at
// most timeout each time). It reports the p50 and p99 of those times, and
// returns them.
func selfHeal(b *testing.B, store *state.Store, serviceID string, timeout time.Duration, kill func(victim *api.Task) error) []time.Duration {
	b.Helper()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		victim := runningTasks(store.Read(), serviceID)[0]
		start := time.Now()
		if err := kill(victim); err != nil {
			b.Fatalf("taking down %d: %v", i, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := waitStore(ctx, store, func(tx *state.ReadTx) bool {
			for _, t := range runningTasks(tx, serviceID) {
				if t.Slot == victim.Slot && t.ID != victim.ID {
					return true
				}
			}
			return false
		})
		cancel()
		if err != nil {
			b.Fatalf("taking down %d: no replacement: %v", i, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	return lat
}

// BenchmarkSelfHeal kills a task's process once per iteration and times
// how long until its replacement runs (restart delay 0). Run it with
// -benchtime=100x for the figure in docs/benchmarks.md.
func BenchmarkSelfHeal(b *testing.B) {
	d, c := startDev(b)
	ctx := context.Background()
	spec := api.ServiceSpec{Name: "heal", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}},
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "600"}},
			RestartPolicy: &api.RestartPolicy{Delay: api.DurationPtr(0)},
		}}
	svc, err := c.ServiceCreate(ctx, spec)
	if err != nil {
		b.Fatal(err)
	}
	store := d.Manager().Store()
	full := func(tx *state.ReadTx) bool { return len(runningTasks(tx, svc.ID)) == 2 }
	if err := waitStore(ctx, store, full); err != nil {
		b.Fatal(err)
	}
	lat := selfHeal(b, store, svc.ID, 30*time.Second, func(victim *api.Task) error {
		pid, err := strconv.Atoi(victim.Status.RuntimeID)
		if err != nil || pid <= 0 {
			// Kill(0) would signal the benchmark's own process group.
			return fmt.Errorf("task %s has no PID (RuntimeID %q)", victim.ID, victim.Status.RuntimeID)
		}
		return syscall.Kill(pid, syscall.SIGKILL)
	})
	b.ReportMetric(ms(percentile(lat, 1)), "max-ms")
}

// BenchmarkScaleUp scales a service of a tiny program from 0 to 500
// replicas per iteration and times until all run.
func BenchmarkScaleUp(b *testing.B) {
	const n = 500
	d, c := startDev(b)
	ctx := context.Background()
	store := d.Manager().Store()
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		spec := api.ServiceSpec{Name: fmt.Sprintf("scale%d", i), Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 0}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "600"}}}}
		svc, err := c.ServiceCreate(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		spec.Mode.Replicated.Replicas = n
		if _, err := c.ServiceUpdate(ctx, svc.ID, 0, spec); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err = waitStore(wctx, store, func(tx *state.ReadTx) bool { return len(runningTasks(tx, svc.ID)) == n })
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		c.ServiceRemove(ctx, svc.ID)
		waitStore(ctx, store, func(tx *state.ReadTx) bool { return len(tx.TasksByService(svc.ID)) == 0 })
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s-to-500")
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "tasks/s")
}

// BenchmarkServiceCreate measures control-plane writes through the API and
// Raft: one service create (0 replicas) per iteration.
func BenchmarkServiceCreate(b *testing.B) {
	_, c := startDev(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		spec := api.ServiceSpec{Name: fmt.Sprintf("svc%d", i), Mode: api.ServiceMode{Replicated: &api.ReplicatedService{}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"true"}}}}
		if _, err := c.ServiceCreate(ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
}

// BenchmarkRaftApply measures raw writes through the manager's Raft (no
// HTTP): one node-status command per iteration, from 8 writers.
func BenchmarkRaftApply(b *testing.B) {
	d, _ := startDev(b)
	raftApply(b, d.Manager(), d.NodeID(), "127.0.0.1")
}

// raftApply proposes one node-status command for node per iteration, 4
// writers per core, on m, and reports writes/s.
func raftApply(b *testing.B, m *manager.Manager, node, addr string) {
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			st := api.NodeStatus{State: api.NodeStateReady, Addr: addr}
			if _, err := m.Propose(context.Background(), &state.Command{Ops: []state.Op{{Kind: state.OpNodeStatus, ID: node, NodeStatus: &st}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}
