package orchestrator

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
)

// checkJob asserts what must hold of a replicated job after every pass:
// at most concurrent tasks live, no slot completed twice or run again
// once completed, no slot beyond total.
func (s *sim) checkJob(concurrent, total uint64) error {
	completed := map[uint64]int{}
	live := map[uint64]int{}
	nLive := uint64(0)
	for _, tk := range s.store.Read().TasksByService(s.svcID) {
		if tk.Slot < 1 || tk.Slot > total {
			return fmt.Errorf("task %s in slot %d, outside 1..%d", tk.ID, tk.Slot, total)
		}
		if tk.Status.State == api.TaskStateComplete {
			completed[tk.Slot]++
		}
		if tk.Live() {
			live[tk.Slot]++
			nLive++
		}
	}
	if nLive > concurrent {
		return fmt.Errorf("%d tasks live, more than max-concurrent %d", nLive, concurrent)
	}
	for slot, n := range completed {
		if n > 1 || live[slot] > 0 {
			return fmt.Errorf("slot %d: %d completions and %d live tasks, want a completed slot left alone", slot, n, live[slot])
		}
	}
	return nil
}

// For any sequence of task failures, completions and passing time, a
// replicated job never runs more than max-concurrent tasks, never reruns
// a completed slot, and reaches exactly its total completions.
func TestPropertyJobReachesTotalCompletionsWithinConcurrency(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		concurrent := rapid.Uint64Range(1, 3).Draw(rt, "concurrent")
		total := rapid.Uint64Range(1, 6).Draw(rt, "total")
		delay := rapid.SampledFrom([]time.Duration{0, 5 * time.Second}).Draw(rt, "delay")
		s := jobSim(rt, concurrent, total, &api.RestartPolicy{Delay: api.DurationPtr(delay)})
		s.settle()
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			if rapid.IntRange(0, 3).Draw(rt, "action") == 0 {
				s.clock.Advance(time.Duration(rapid.IntRange(0, 10).Draw(rt, "seconds")) * time.Second)
			} else if live := s.live(); len(live) > 0 {
				victim := live[rapid.IntRange(0, len(live)-1).Draw(rt, "victim")]
				end := rapid.SampledFrom([]api.TaskState{api.TaskStateFailed, api.TaskStateComplete}).Draw(rt, "end")
				s.report(victim, end, "ended")
			}
			s.settle()
			if err := s.checkJob(concurrent, total); err != nil {
				rt.Fatal(err)
			}
		}
		// From here every task succeeds: the job must finish.
		for round := uint64(0); round <= total; round++ {
			s.clock.Advance(delay + time.Second)
			s.settle()
			s.finishAll(api.TaskStateComplete)
			s.settle()
			if err := s.checkJob(concurrent, total); err != nil {
				rt.Fatal(err)
			}
		}
		if n := s.countState(api.TaskStateComplete); uint64(n) != total || len(s.live()) != 0 {
			rt.Fatalf("%d completions and %d live tasks at the end, want %d and none", n, len(s.live()), total)
		}
	})
}
