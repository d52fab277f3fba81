package agentlink_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/state"
)

// BenchmarkCommitWithRoutesStreams is the cost of one commit (a status
// change of a routed task) with N nodes following their routes streams
// over TLS on loopback, until every stream has it: wall time per commit
// (the commits go one after another, as Raft applies them), the commit's
// own time in the store's apply (apply-µs), and the process's CPU per
// commit (cpu-µs: the store, the streams' filtering, encoding and writes,
// and the readers' decoding, all in this process).
func BenchmarkCommitWithRoutesStreams(b *testing.B) {
	for _, streams := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", streams), func(b *testing.B) { benchRoutesStreams(b, streams) })
	}
}

func benchRoutesStreams(b *testing.B, streams int) {
	e := newEnvWith(b, agentlink.RegisterLimits{}, 0)
	routedService(e)
	e.must(state.Op{Kind: state.OpCreateTask, Task: &api.Task{ID: "bench", ServiceID: "svcid", ServiceName: "web", Slot: 1, SpecVersion: 1,
		DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStateRunning}}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Each reader holds the newest message it saw of the task.
	type reader struct {
		mu    sync.Mutex
		seen  string
		ended error // the stream broke: the benchmark fails, not hangs
		cond  *sync.Cond
	}
	readers := make([]*reader, streams)
	synced := make(chan struct{}, streams)
	for i := range readers {
		rd := &reader{}
		rd.cond = sync.NewCond(&rd.mu)
		readers[i] = rd
		c := e.clientWith(e.ident(fmt.Sprintf("node%021d", i)), "127.0.0.9")
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.FollowRoutes(ctx, func(agentlink.Routes) { synced <- struct{}{} }, func(evs ...api.Event) {
				for _, ev := range evs {
					if ev.Type == api.EventTask && ev.ID == "bench" && ev.Task != nil {
						rd.mu.Lock()
						rd.seen = fmt.Sprint(ev.Task.Version)
						rd.cond.Broadcast()
						rd.mu.Unlock()
					}
				}
			})
			rd.mu.Lock()
			rd.ended = fmt.Errorf("a routes stream ended: %w", err)
			rd.cond.Broadcast()
			rd.mu.Unlock()
		}()
	}
	for range streams {
		<-synced
	}
	var applied time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		res, err := e.p.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpTaskStatus,
			Report: &api.TaskReport{TaskID: "bench", Status: api.TaskStatus{State: api.TaskStateRunning, Health: healthOf(i)}}}}})
		applied += time.Since(start)
		if err != nil || res.Err != nil {
			b.Fatal(err, res.Err)
		}
		want := fmt.Sprint(e.store.Read().Task("bench").Version)
		for _, rd := range readers {
			rd.mu.Lock()
			for rd.seen != want && rd.ended == nil {
				rd.cond.Wait()
			}
			ended := rd.ended
			rd.mu.Unlock()
			if ended != nil {
				b.Fatal(ended)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(applied.Microseconds())/float64(b.N), "apply-µs")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs")
}

// healthOf alternates a routed task's health, a change every routes
// stream must carry.
func healthOf(i int) string {
	if i%2 == 0 {
		return api.HealthUnhealthy
	}
	return api.HealthHealthy
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
