package sim

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// Figures are what one scenario measured.
type Figures struct {
	Tasks int
	// ToAssigned is from the first service create until every task was
	// placed; ToRunning until every task ran.
	ToAssigned, ToRunning time.Duration
	// RaftEntries and RaftBytes are the log entries the manager applied
	// meanwhile, and their bytes; RaftLargest the largest entry.
	RaftEntries, RaftBytes, RaftLargest uint64
	// CPU is the process's CPU time meanwhile (manager and agents: they
	// share the process).
	CPU time.Duration
	// PeakHeap is the most heap in use seen (sampled every 50ms);
	// HeapPerTask is the heap at rest after the run, less the heap before
	// it, per task (manager and simulated agents).
	PeakHeap    uint64
	HeapPerTask float64
	// ManagerHeapPerTask and AgentHeapPerTask split HeapPerTask by who
	// allocated the bytes (heapsplit.go); set only when every allocation
	// is profiled (runtime.MemProfileRate 1).
	ManagerHeapPerTask, AgentHeapPerTask float64
	// FalseDown counts nodes marked down while their agents were alive.
	FalseDown int
}

// PlacementsPerSec is tasks placed per second of ToAssigned.
func (f Figures) PlacementsPerSec() float64 { return float64(f.Tasks) / f.ToAssigned.Seconds() }

// Service is a replicated service of replicas process tasks with the
// given constraints and spread preferences.
func Service(name string, replicas uint64, constraints []string, spread ...string) api.ServiceSpec {
	p := &api.Placement{Constraints: constraints}
	for _, s := range spread {
		p.Preferences = append(p.Preferences, api.PlacementPreference{Spread: s})
	}
	return api.ServiceSpec{
		Name:         name,
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "inf"}}, Placement: p},
		Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}},
	}
}

// Deploy creates the services and waits until all their tasks run.
func (c *Cluster) Deploy(ctx context.Context, specs []api.ServiceSpec) (Figures, error) {
	var f Figures
	for _, s := range specs {
		f.Tasks += int(s.Mode.Replicated.Replicas)
	}
	var profBefore heapByStack
	if runtime.MemProfileRate == 1 {
		profBefore = heapProfile()
	}
	heapBefore := heapAtRest()
	if err := writeHeapProfile(".before"); err != nil {
		return f, err
	}
	e0, b0, _ := c.Manager.Store().AppliedStats()
	cpu0 := cpuTime()
	peak := samplePeak()
	downs := c.watchDowns()
	start := time.Now()
	for _, s := range specs {
		if _, err := c.Manager.CreateService(ctx, s); err != nil {
			return f, fmt.Errorf("create %s: %w", s.Name, err)
		}
	}
	err := c.Wait(ctx, func(tx *state.ReadTx) bool {
		assigned, running := c.count(tx)
		if f.ToAssigned == 0 && assigned == f.Tasks {
			f.ToAssigned = time.Since(start)
		}
		return running == f.Tasks
	})
	if err != nil {
		return f, fmt.Errorf("wait for %d tasks to run: %w", f.Tasks, err)
	}
	f.ToRunning = time.Since(start)
	f.CPU = cpuTime() - cpu0
	f.PeakHeap = peak()
	f.FalseDown = downs()
	e1, b1, largest := c.Manager.Store().AppliedStats()
	f.RaftEntries, f.RaftBytes, f.RaftLargest = e1-e0, b1-b0, largest
	f.HeapPerTask = (float64(heapAtRest()) - float64(heapBefore)) / float64(f.Tasks)
	if profBefore != nil {
		m, a := heapOwners(profBefore)
		f.ManagerHeapPerTask, f.AgentHeapPerTask = float64(m)/float64(f.Tasks), float64(a)/float64(f.Tasks)
	}
	if err := writeHeapProfile(""); err != nil {
		return f, err
	}
	return f, nil
}

// count returns the live tasks that are placed and those running.
func (c *Cluster) count(tx *state.ReadTx) (assigned, running int) {
	for _, t := range tx.Tasks() {
		if t.DesiredState != api.TaskStateRunning {
			continue
		}
		if t.Status.State >= api.TaskStateAssigned && t.Status.State <= api.TaskStateRunning {
			assigned++
		}
		if t.Status.State == api.TaskStateRunning {
			running++
		}
	}
	return assigned, running
}

// watchDowns counts nodes marked down while their agent lives, until the
// returned function is called.
func (c *Cluster) watchDowns() func() int {
	ctx, cancel := context.WithCancel(context.Background())
	_, sub := c.Manager.Store().Subscribe()
	done := make(chan int)
	go func() {
		defer sub.Close()
		n := 0
		for {
			evs, err := sub.Next(ctx)
			if err != nil {
				done <- n
				return
			}
			for _, ev := range evs {
				if ev.Type == api.EventNode && ev.Node.Status.State == api.NodeStateDown && !c.killed(ev.ID) {
					n++
				}
			}
		}
	}()
	return func() int {
		cancel()
		return <-done
	}
}

func (c *Cluster) killed(nodeID string) bool {
	for _, a := range c.Agents {
		if a.NodeID() == nodeID {
			return a.cancel == nil || a.dead.Load()
		}
	}
	return false
}

// writeHeapProfile writes the heap's profile at rest to the file
// SIM_HEAPPROFILE names, if any, with suffix: where the bytes per task
// go (the profile written before the deploy, suffix ".before", is the base
// to compare it with: go tool pprof -diff_base).
func writeHeapProfile(suffix string) error {
	path := os.Getenv("SIM_HEAPPROFILE")
	if path == "" {
		return nil
	}
	path += suffix
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	return f.Close()
}

// heapAtRest is the heap in use after a collection.
func heapAtRest() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// samplePeak samples the heap in use every 50ms until the returned
// function is called, which returns the most it saw.
func samplePeak() func() uint64 {
	stop := make(chan struct{})
	res := make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-stop:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-res
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
