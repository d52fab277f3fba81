package sim

import (
	"runtime"
	"strings"
)

// The simulated agents share the manager's process, so the heap at rest
// holds both: their bookkeeping (which tasks they run, their timers) and
// the manager's state. With every allocation profiled
// (runtime.MemProfileRate = 1), heapOwners splits the bytes in use by who
// allocated them, so the manager's memory per task can be told apart.

const (
	shoalPrefix = "github.com/shoalproject/shoal/"
	simPrefix   = shoalPrefix + "bench/"
)

// heapByStack is the bytes in use by allocation stack.
type heapByStack map[[32]uintptr]int64

// heapProfile reads the allocation profile; it is exact only when every
// allocation was sampled (MemProfileRate 1). It collects twice first: the
// profile holds the state of the last completed collection.
func heapProfile() heapByStack {
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+64)
		var ok bool
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	h := make(heapByStack, len(recs))
	for _, r := range recs {
		h[r.Stack0] += r.InUseBytes()
	}
	return h
}

// heapOwners returns the bytes in use now less those in use at before,
// split into those the simulated agents allocated and the rest (the
// manager, and what no shoal frame allocated). The profile before, which
// is in use until now, is neither's: at one entry of about 280 bytes per
// allocation stack the process ever used, it made up about a third of
// the agents' figure.
func heapOwners(before heapByStack) (manager, agents int64) {
	for stk, n := range heapProfile() {
		n -= before[stk]
		if n == 0 {
			continue
		}
		switch ownerOf(stk) {
		case ownerAgents:
			agents += n
		case ownerManager:
			manager += n
		}
	}
	return manager, agents
}

type owner int

const (
	ownerManager owner = iota
	ownerAgents
	// ownerSplit is this file's own: the profiles it reads.
	ownerSplit
)

// heapProfileFunc is heapProfile's name in stacks.
const heapProfileFunc = simPrefix + "sim.heapProfile"

// ownerOf returns whose the bytes allocated at stk are: the innermost
// shoal frame's. An allocation made by the manager's code on an agent's
// goroutine (a dispatcher call) counts as the manager's.
func ownerOf(stk [32]uintptr) owner {
	n := 0
	for n < len(stk) && stk[n] != 0 {
		n++
	}
	frames := runtime.CallersFrames(stk[:n])
	for {
		f, more := frames.Next()
		switch {
		case f.Function == heapProfileFunc:
			return ownerSplit
		case strings.HasPrefix(f.Function, simPrefix):
			return ownerAgents
		case strings.HasPrefix(f.Function, shoalPrefix):
			return ownerManager
		}
		if !more {
			return ownerManager
		}
	}
}
