package orchestrator

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
)

// swarmRestarts is the oracle: Swarm's restart supervisor for one slot.
// A task that ends is replaced when the condition asks for it and, with
// max_attempts, fewer than max_attempts restarts happened in the window
// before its end (all of them since the spec changed when there is no
// window). Once it is not replaced, the slot stays empty.
type swarmRestarts struct {
	condition   string
	maxAttempts uint64
	window      time.Duration
	history     []time.Time // ends that were followed by a restart
	givenUp     bool
}

// ended says whether a task that ended at end (the leader's time) in
// state st is replaced.
func (m *swarmRestarts) ended(end time.Time, st api.TaskState) bool {
	if !(&api.RestartPolicy{Condition: m.condition}).RestartsAfter(st) {
		m.givenUp = true
		return false
	}
	if m.maxAttempts > 0 {
		n := uint64(0)
		for _, h := range m.history {
			if m.window == 0 || !h.Before(end.Add(-m.window)) {
				n++
			}
		}
		if n >= m.maxAttempts {
			m.givenUp = true
			return false
		}
	}
	m.history = append(m.history, end)
	return true
}

// clearsAt is the last moment a slot that gave up at end still counts
// max_attempts restarts in its window.
func (m *swarmRestarts) clearsAt(end time.Time) time.Time {
	var in []time.Time
	for _, h := range m.history {
		if !h.Before(end.Add(-m.window)) {
			in = append(in, h)
		}
	}
	if uint64(len(in)) < m.maxAttempts || m.maxAttempts == 0 {
		return end
	}
	// The restarts are in time order: the slot counts fewer than
	// max_attempts once the one max_attempts from the newest has left.
	return in[uint64(len(in))-m.maxAttempts].Add(m.window)
}

// A dead task's replacement is made exactly the restart delay after its
// end by the leader's clock, never earlier, whatever the agent's clock
// says (its skew drawn anew for every report: a clock that steps) or
// whether the leader's clock steps back meanwhile, and
// max_attempts within the window are counted as Swarm counts them; a
// slot that gave up stays empty as time passes.
func TestPropertyRestartDelayByTheLeadersClock(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		delay := time.Duration(rapid.IntRange(0, 20).Draw(rt, "delay seconds")) * time.Second
		m := &swarmRestarts{
			condition:   rapid.SampledFrom([]string{api.RestartConditionAny, api.RestartConditionOnFailure}).Draw(rt, "condition"),
			maxAttempts: rapid.Uint64Range(0, 3).Draw(rt, "max attempts"),
			window:      time.Duration(rapid.SampledFrom([]int{0, 0, 10, 30, 60}).Draw(rt, "window seconds")) * time.Second,
		}
		s := newSim(rt, 1, &api.RestartPolicy{Condition: m.condition, Delay: api.DurationPtr(delay),
			MaxAttempts: u64(m.maxAttempts), Window: api.DurationPtr(m.window)})
		s.settle()
		deaths := rapid.IntRange(1, 8).Draw(rt, "deaths")
		for i := 0; i < deaths; i++ {
			live := s.live()
			if len(live) != 1 || live[0].Status.State != api.TaskStateRunning {
				rt.Fatalf("death %d: want one running task, got %d live", i, len(live))
			}
			old := live[0]
			// The task runs a while, then ends; the agent's clock is off
			// by up to two hours either way when it reports.
			s.clock.Advance(time.Duration(rapid.IntRange(0, 40).Draw(rt, "runs for seconds")) * time.Second)
			s.skew = time.Duration(rapid.Int64Range(-7200, 7200).Draw(rt, "agent skew seconds")) * time.Second
			st := rapid.SampledFrom([]api.TaskState{api.TaskStateFailed, api.TaskStateFailed, api.TaskStateComplete}).Draw(rt, "end")
			end := s.clock.Now()
			s.report(old, st, "ended")
			if got := s.store.Read().Task(old.ID).Status.Timestamp; !got.Equal(end) {
				rt.Fatalf("death %d: the end is dated %v, want the leader's %v", i, got, end)
			}
			s.settle()
			if !m.ended(end, st) {
				// Given up: with a window, the slot stays empty until
				// enough of the restarts counted have left it (Swarm's
				// next reconcile may then refill it); without one, for
				// good.
				wait := delay + time.Hour
				if m.window > 0 {
					wait = m.clearsAt(end).Sub(end)
				}
				s.clock.Advance(wait)
				s.settle()
				if n := len(s.live()); n != 0 {
					rt.Fatalf("death %d: the slot gave up (%s, %d restarts in the %v window), yet %d tasks run %v later",
						i, st, len(m.history), m.window, n, wait)
				}
				return
			}
			if delay > 0 {
				// Not a moment earlier: a pass just before the delay ends
				// makes nothing.
				if n := len(s.live()); n != 0 {
					rt.Fatalf("death %d: replaced at once, before the %v delay", i, delay)
				}
				// The leader's clock may step back meanwhile (NTP, a data
				// folder moved to a host that is behind): the delay still
				// ends when that clock reads end+delay, with no task made
				// twice nor a slot stalled.
				back := rapid.SampledFrom([]time.Duration{0, 0, 30 * time.Second, time.Hour}).Draw(rt, "leader clock steps back")
				s.clock.Advance(-back)
				s.settle()
				early := time.Duration(rapid.Int64Range(1, int64(delay/time.Millisecond)).Draw(rt, "ms before the delay ends")) * time.Millisecond
				s.clock.Advance(back + delay - early)
				s.settle()
				if n := len(s.live()); n != 0 {
					rt.Fatalf("death %d: replaced %v before the %v delay ended (agent skew %v)", i, early, delay, s.skew)
				}
				s.clock.Advance(early)
				s.settle()
			}
			live = s.live()
			if len(live) != 1 {
				rt.Fatalf("death %d: %d live tasks when the %v delay ended (agent skew %v), want 1", i, len(live), delay, s.skew)
			}
			if nt := live[0]; nt.ID == old.ID || nt.Slot != old.Slot || !nt.CreatedAt.Equal(end.Add(delay)) {
				rt.Fatalf("death %d: replacement %s slot %d made at %v; want a new task in slot %d at %v",
					i, nt.ID, nt.Slot, nt.CreatedAt, old.Slot, end.Add(delay))
			}
		}
	})
}
