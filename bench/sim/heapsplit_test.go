package sim

import (
	"runtime"
	"testing"

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
