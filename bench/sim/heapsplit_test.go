package sim

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

var keepAgents, keepManager any

// Bytes allocated in bench/ count as the agents', bytes a shoal package
// outside it allocated (here api.NewID, called from this test) as the
// manager's: the innermost shoal frame decides.
func TestHeapOwnersSplitsByAllocator(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	before := heapProfile()
	keepAgents = make([]byte, 1<<20)
	ids := make([]string, 20000) // 320 KB, the agents'
	for i := range ids {
		ids[i] = api.NewID() // 20,000 × 32 B, the manager's
	}
	keepManager = ids
	manager, agents := heapOwners(before)
	if agents < 1<<20+20000*16 || agents > 2<<20 {
		t.Errorf("agents' bytes %d, want about %d", agents, 1<<20+20000*16)
	}
	if manager < 20000*25 || manager > 1<<20 {
		t.Errorf("manager's bytes %d, want about %d", manager, 20000*32)
	}
	runtime.KeepAlive(keepAgents)
	runtime.KeepAlive(keepManager)
}

// The profile taken before is the harness's, not the agents': with
// nothing allocated between them, heapOwners finds next to nothing on
// either side, however many allocation sites the process has.
func TestHeapOwnersCountsNotItsOwnBaseline(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	// Many allocation sites, as a cluster's process has: each a record
	// of the profile, so an entry of the baseline.
	keep := make([]any, 0, 4000)
	for i := range 4000 {
		keep = append(keep, allocAt(i%30, i/30))
	}
	before := heapProfile()
	manager, agents := heapOwners(before)
	if abs(manager) > 64<<10 || abs(agents) > 64<<10 {
		t.Errorf("nothing allocated, yet manager %d B and agents %d B (baseline of %d allocation stacks)", manager, agents, len(before))
	}
	runtime.KeepAlive(keep)
}

func abs(n int64) int64 { return max(n, -n) }

// allocAt allocates from a stack of its own for each depth and way.
func allocAt(depth, way int) any {
	if depth > 0 {
		if way%2 == 0 {
			return allocAt(depth-1, way/2)
		}
		return allocAt2(depth-1, way/2)
	}
	return new([64]byte)
}

func allocAt2(depth, way int) any { return allocAt(depth, way) }

// On a deploy, the manager's and the agents' bytes per task add up to the
// heap's growth per task: no byte of the split's own is counted, and none
// of the heap's is missed.
func TestHeapSplitAddsUpToTheHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster of 50 nodes")
	}
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{Dir: t.TempDir(), Nodes: 50,
		Labels: func(i int) map[string]string { return map[string]string{"zone": fmt.Sprint(i % 3)} },
		Delays: Delays{Accept: 5 * time.Millisecond, Start: 20 * time.Millisecond, Stop: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var specs []api.ServiceSpec
	for i := range 5 {
		specs = append(specs, Service(fmt.Sprint("s", i), 200, nil, "engine.labels.zone"))
	}
	f, err := c.Deploy(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	sum := f.ManagerHeapPerTask + f.AgentHeapPerTask
	if f.ManagerHeapPerTask <= 0 || f.AgentHeapPerTask <= 0 || sum < 0.95*f.HeapPerTask || sum > 1.05*f.HeapPerTask {
		t.Errorf("manager %.0f + agents %.0f = %.0f B/task, the heap grew by %.0f B/task", f.ManagerHeapPerTask, f.AgentHeapPerTask, sum, f.HeapPerTask)
	}
}
