package orchestrator

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
)

// For any sequence of scale changes, task deaths and passing time, the
// service converges to exactly its desired replicas, one per slot, with
// bounded history.
func TestPropertyConvergesToDesiredReplicas(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		delay := rapid.SampledFrom([]time.Duration{0, 5 * time.Second}).Draw(rt, "delay")
		want := rapid.Uint64Range(0, 6).Draw(rt, "replicas")
		s := newSim(rt, want, &api.RestartPolicy{Delay: api.DurationPtr(delay)})
		s.settle()
		steps := rapid.IntRange(1, 25).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 3).Draw(rt, "action") {
			case 0:
				want = rapid.Uint64Range(0, 8).Draw(rt, "scale")
				s.scale(want)
			case 1, 2:
				live := s.live()
				if len(live) == 0 {
					continue
				}
				victim := live[rapid.IntRange(0, len(live)-1).Draw(rt, "victim")]
				if victim.Status.State != api.TaskStateRunning {
					continue
				}
				end := rapid.SampledFrom([]api.TaskState{api.TaskStateFailed, api.TaskStateComplete}).Draw(rt, "end")
				s.report(victim, end, "ended")
			case 3:
				s.clock.Advance(time.Duration(rapid.IntRange(0, 10).Draw(rt, "seconds")) * time.Second)
			}
			s.settle()
		}
		// Let every restart delay pass, then it must have converged.
		s.clock.Advance(delay + time.Second)
		s.settle()
		if err := s.checkConverged(want); err != nil {
			rt.Fatal(err)
		}
	})
}
