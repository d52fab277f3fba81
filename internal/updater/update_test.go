package updater

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoalproject/shoal/api"
)

func sim(t *testing.T, o opts, body func(t *testing.T, c *cluster)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, o)
		defer c.close()
		body(t, c)
	})
}

func dur(d time.Duration) api.Duration { return api.Duration(d) }

func TestConfigDefaults(t *testing.T) {
	want := config{parallelism: 1, delay: 0, failureAction: api.FailureActionPause, monitor: 5 * time.Second, maxRatio: 0, startFirst: false}
	if got := configOf(nil); got != want {
		t.Fatalf("configOf(nil) = %+v, want %+v", got, want)
	}
	// Only what is set changes; a zero monitor and an empty action or
	// order are the defaults.
	if got := configOf(&api.UpdateConfig{Parallelism: 1}); got != want {
		t.Fatalf("configOf(parallelism 1) = %+v, want %+v", got, want)
	}
}

// A service without update_config updates one slot at a time, stop-first,
// starts the next slot as soon as the last one runs, completes 5s (the
// monitor) after the last task ran, and pauses on the first failure.
func TestDefaultsInAction(t *testing.T) {
	t.Run("one slot at a time, stop-first, final monitor 5s", func(t *testing.T) {
		sim(t, opts{replicas: 3}, func(t *testing.T, c *cluster) {
			c.checks = append(c.checks, oneLivePerSlot, inFlightAtMost(1, 2, 0))
			v := c.image("v2")
			c.settle()
			if n := c.countRunning(v); n != 3 {
				t.Fatalf("%d slots on v2 once each batch's task runs, want 3", n)
			}
			c.advance(5*time.Second - time.Millisecond)
			if st := c.updateState(); st != api.UpdateStateUpdating {
				t.Fatalf("update %s before the final monitor window passed, want updating", st)
			}
			c.advance(time.Millisecond)
			if st := c.updateState(); st != api.UpdateStateCompleted {
				t.Fatalf("update %s once the final monitor window passed, want completed", st)
			}
			if err := c.converged(v, 3); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("first failure pauses", func(t *testing.T) {
		sim(t, opts{replicas: 3}, func(t *testing.T, c *cluster) {
			c.badVersion(2, crash)
			c.image("v2")
			c.runUntil("pause", time.Minute, func() bool { return c.ended() })
			if st := c.updateState(); st != api.UpdateStatePaused {
				t.Fatalf("update %s after one failure, want paused", st)
			}
		})
	})
}

func TestStopFirst(t *testing.T) {
	for _, tc := range []struct {
		parallelism uint64
		firstBatch  int
	}{{1, 1}, {2, 2}, {3, 3}, {0, 4}} {
		t.Run(fmt.Sprintf("parallelism %d", tc.parallelism), func(t *testing.T) {
			sim(t, opts{replicas: 4, update: &api.UpdateConfig{Parallelism: tc.parallelism, Delay: dur(10 * time.Second)}}, func(t *testing.T, c *cluster) {
				c.checks = append(c.checks, oneLivePerSlot, inFlightAtMost(tc.firstBatch, 2, 0), liveAtMost(4))
				v := c.image("v2")
				c.settle()
				if n := c.countRunning(v); n != tc.firstBatch {
					t.Fatalf("%d slots in the first batch, want %d", n, tc.firstBatch)
				}
				if n := c.countRunning(1); n != 4-tc.firstBatch {
					t.Fatalf("%d slots still on v1 after the first batch, want %d", n, 4-tc.firstBatch)
				}
				c.runUntil("completion", 5*time.Minute, func() bool { return c.updateState() == api.UpdateStateCompleted })
				if err := c.converged(v, 4); err != nil {
					t.Fatal(err)
				}
				// Every old task stopped before its replacement was made
				// (oneLivePerSlot), and each slot was replaced once.
				if n := c.createdOf(v); n != 4 {
					t.Fatalf("%d v2 tasks made, want 4", n)
				}
			})
		})
	}
}

func TestStartFirst(t *testing.T) {
	for _, p := range []uint64{1, 2, 0} {
		t.Run(fmt.Sprintf("parallelism %d", p), func(t *testing.T) {
			sim(t, opts{replicas: 3, update: &api.UpdateConfig{Parallelism: p, Order: api.UpdateOrderStartFirst, Delay: dur(5 * time.Second)}}, func(t *testing.T, c *cluster) {
				extra := int(p)
				if p == 0 {
					extra = 3
				}
				c.checks = append(c.checks, runningAtLeast(3), startFirstOrder(2), liveAtMost(3+extra), inFlightAtMost(extra, 2, 0))
				v := c.image("v2")
				c.settle()
				if n := c.countRunning(v); n != extra {
					t.Fatalf("%d v2 tasks run after the first batch, want %d", n, extra)
				}
				c.runUntil("completion", 5*time.Minute, func() bool { return c.updateState() == api.UpdateStateCompleted })
				if err := c.converged(v, 3); err != nil {
					t.Fatal(err)
				}
				if c.maxLive != 3+extra {
					t.Fatalf("at most %d tasks were live at once, want %d (replicas + batch)", c.maxLive, 3+extra)
				}
			})
		})
	}
}

// The next batch starts delay after the last one's tasks run; the
// monitor window does not hold it back. The update completes one monitor
// window after the last task ran.
func TestNextBatchWaitsDelayNotMonitor(t *testing.T) {
	for _, tc := range []struct {
		name           string
		monitor, delay time.Duration
	}{
		{"monitor 10s", 10 * time.Second, 0},
		{"monitor 2s delay 3s", 2 * time.Second, 3 * time.Second},
		{"default monitor delay 1s", 0, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sim(t, opts{replicas: 3, update: &api.UpdateConfig{Parallelism: 1, Monitor: dur(tc.monitor), Delay: dur(tc.delay)}}, func(t *testing.T, c *cluster) {
				v := c.image("v2")
				c.settle()
				for batch := 1; batch <= 3 && tc.delay > 0; batch++ {
					if n := c.countRunning(v); n != batch {
						t.Fatalf("batch %d: %d slots on v2, want %d", batch, n, batch)
					}
					if batch == 3 {
						break
					}
					c.advance(tc.delay - time.Millisecond)
					if n := c.countRunning(v); n != batch {
						t.Fatalf("batch %d: %d slots on v2 1ms before the next batch is due, want %d", batch, n, batch)
					}
					c.advance(time.Millisecond)
				}
				if n := c.countRunning(v); n != 3 {
					t.Fatalf("%d slots on v2 after the last batch, want 3", n)
				}
				monitor := tc.monitor
				if monitor == 0 {
					monitor = 5 * time.Second
				}
				c.advance(monitor - time.Millisecond)
				if st := c.updateState(); st != api.UpdateStateUpdating {
					t.Fatalf("update %s before the last batch passed its monitor, want updating", st)
				}
				c.advance(time.Millisecond)
				if st := c.updateState(); st != api.UpdateStateCompleted {
					t.Fatalf("update %s once the last batch passed its monitor, want completed", st)
				}
			})
		})
	}
}

// Batches advance as their tasks run: 200 replicas at parallelism 1 with
// the default 5s monitor complete one monitor window after the deploy
// (their tasks start at once here), not 200 monitor windows later.
func TestBatchesAdvanceWhenTasksRun(t *testing.T) {
	sim(t, opts{replicas: 200}, func(t *testing.T, c *cluster) {
		c.checks = append(c.checks, oneLivePerSlot, inFlightAtMost(1, 2, 0))
		deployed := c.clock.Now()
		v := c.image("v2")
		c.runUntil("completion", time.Hour, c.ended)
		st := c.status()
		if st.State != api.UpdateStateCompleted || st.CompletedAt == nil {
			t.Fatalf("update %+v, want completed", st)
		}
		if took := st.CompletedAt.Sub(deployed); took != 5*time.Second {
			t.Fatalf("update took %v, want 5s (one final monitor window)", took)
		}
		if err := c.converged(v, 200); err != nil {
			t.Fatal(err)
		}
	})
}

// A task of an earlier batch that fails within the monitor window after
// it ran, while later batches go on, still triggers the failure action.
func TestFailureWithinMonitorAfterNextBatchActs(t *testing.T) {
	for _, action := range []string{api.FailureActionPause, api.FailureActionRollback} {
		t.Run(action, func(t *testing.T) {
			sim(t, opts{replicas: 3, update: &api.UpdateConfig{Parallelism: 1, Monitor: dur(10 * time.Second), FailureAction: action}}, func(t *testing.T, c *cluster) {
				c.crashAfter = 4 * time.Second
				v := c.image("v2")
				c.badSlot(v, 1, crashLate)
				c.settle()
				if n := c.countRunning(v); n != 3 {
					t.Fatalf("%d slots on v2 before slot 1 fails, want 3: batches wait for running only", n)
				}
				c.runUntil("the update's end", 5*time.Minute, c.ended)
				want := api.UpdateStatePaused
				if action == api.FailureActionRollback {
					want = api.UpdateStateRollbackCompleted
				}
				if st := c.updateState(); st != want {
					t.Fatalf("update %s, want %s (states %v)", st, want, c.states)
				}
				first := c.firstOf(v)
				if first == nil || first.Slot != 1 || !strings.Contains(c.status().Message, first.ID) {
					t.Fatalf("message %q does not name slot 1's task", c.status().Message)
				}
			})
		})
	}
}

func TestFailureCounting(t *testing.T) {
	none := &api.RestartPolicy{Condition: api.RestartConditionNone}
	for _, tc := range []struct {
		name       string
		mode       mode
		crashAfter time.Duration
		want       string
	}{
		{"fails before running", unhealthy, 0, api.UpdateStatePaused},
		{"fails on start", crash, 0, api.UpdateStatePaused},
		{"fails within monitor", crashLate, 5*time.Second - time.Millisecond, api.UpdateStatePaused},
		{"fails after monitor", crashLate, 5*time.Second + time.Millisecond, api.UpdateStateCompleted},
	} {
		for _, rp := range []*api.RestartPolicy{nil, none} {
			t.Run(fmt.Sprintf("%s restart %v", tc.name, rp != nil), func(t *testing.T) {
				sim(t, opts{replicas: 2, restart: rp, update: &api.UpdateConfig{Parallelism: 1, Monitor: dur(5 * time.Second)}}, func(t *testing.T, c *cluster) {
					c.crashAfter = tc.crashAfter
					v := c.image("v2")
					c.badVersion(v, tc.mode)
					c.runUntil("the update's end", 5*time.Minute, c.ended)
					if st := c.updateState(); st != tc.want {
						t.Fatalf("update %s, want %s (states %v)", st, tc.want, c.states)
					}
					if tc.want == api.UpdateStateCompleted {
						if slices.Contains(c.states, api.UpdateStatePaused) {
							t.Fatalf("paused on the way: %v", c.states)
						}
						return
					}
					// Batches move on once tasks run, so both slots' tasks
					// may fail at the same simulated instant: the message
					// names one of the update's failed tasks.
					if failed := c.failedOf(v); !slices.ContainsFunc(failed, func(id string) bool { return strings.Contains(c.status().Message, id) }) {
						t.Fatalf("message %q names none of the update's failed tasks %v", c.status().Message, failed)
					}
				})
			})
		}
	}
}

// The monitor window runs on the leader's clock: with the agent's clock
// an hour or 30s off either way, a task that fails 3s after it ran still
// fails the update (monitor 5s), and a good update completes 5s after
// its last task ran, by the leader's clock.
func TestMonitorRunsOnTheLeadersClockWhateverTheAgents(t *testing.T) {
	for _, skew := range []time.Duration{time.Hour, 30 * time.Second, -30 * time.Second, -time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			sim(t, opts{replicas: 2}, func(t *testing.T, c *cluster) {
				c.skew = skew
				deployed := c.clock.Now()
				c.image("v2")
				c.runUntil("the update's end", 5*time.Minute, c.ended)
				st := c.status()
				if st.State != api.UpdateStateCompleted || st.CompletedAt == nil || !st.CompletedAt.Equal(deployed.Add(5*time.Second)) {
					t.Fatalf("update %s completed at %v, want completed at %v", st.State, st.CompletedAt, deployed.Add(5*time.Second))
				}
			})
			sim(t, opts{replicas: 2}, func(t *testing.T, c *cluster) {
				c.skew = skew
				c.crashAfter = 3 * time.Second
				v := c.image("v2")
				c.badSlot(v, 1, crashLate)
				c.runUntil("the update's end", 5*time.Minute, c.ended)
				if st := c.updateState(); st != api.UpdateStatePaused {
					t.Fatalf("update %s after a task failed 3s after it ran, want paused", st)
				}
			})
		})
	}
}

func TestMaxFailureRatio(t *testing.T) {
	for _, tc := range []struct {
		bad  []uint64
		want string
	}{
		{nil, api.UpdateStateCompleted},
		{[]uint64{1}, api.UpdateStateCompleted},
		{[]uint64{2, 3}, api.UpdateStateCompleted}, // 2/4 is not more than 0.5
		{[]uint64{1, 2, 3}, api.UpdateStatePaused},
	} {
		for _, restart := range []bool{false, true} {
			t.Run(fmt.Sprintf("bad %v restart %v", tc.bad, restart), func(t *testing.T) {
				rp := &api.RestartPolicy{Condition: api.RestartConditionNone}
				if restart {
					// A failing slot keeps failing under its restart
					// policy: it is still one updated task that failed.
					rp = nil
				}
				// The delay holds each next batch until the last task's
				// crash is seen: batches move on once tasks run, and a
				// crash is reported after running.
				u := &api.UpdateConfig{Parallelism: 1, Delay: dur(time.Second), MaxFailureRatio: 0.5}
				sim(t, opts{replicas: 4, restart: rp, update: u}, func(t *testing.T, c *cluster) {
					v := c.image("v2")
					c.bad = func(t *api.Task) mode {
						if t.SpecVersion == v && slices.Contains(tc.bad, t.Slot) {
							return crash
						}
						return good
					}
					c.runUntil("the update's end", 5*time.Minute, c.ended)
					if st := c.updateState(); st != tc.want {
						t.Fatalf("update %s, want %s (states %v)\n%s", st, tc.want, c.states, c.dump())
					}
					run := c.running()
					if tc.want == api.UpdateStatePaused {
						// The third failure paused it: slot 4 was never
						// touched.
						if r := run["slot/4"]; r == nil || r.SpecVersion != 1 {
							t.Fatalf("slot 4 runs %+v, want its v1 task", r)
						}
						return
					}
					for s := uint64(1); s <= 4; s++ {
						r := run[fmt.Sprintf("slot/%d", s)]
						if slices.Contains(tc.bad, s) {
							if r != nil {
								t.Fatalf("bad slot %d runs %s v%d", s, r.ID, r.SpecVersion)
							}
						} else if r == nil || r.SpecVersion != v {
							t.Fatalf("slot %d runs %+v, want a v2 task", s, r)
						}
					}
				})
			})
		}
	}
}

func TestFailureActionPause(t *testing.T) {
	// The delay holds the next batch until the crash is seen: batches
	// move on once tasks run, and a crash is reported after running (in a
	// write of its own, which the updater may otherwise read after it
	// started slot 2; failed 1 run in 10 under -race).
	u := &api.UpdateConfig{Parallelism: 1, Delay: dur(time.Second), FailureAction: api.FailureActionPause}
	sim(t, opts{replicas: 3, update: u}, func(t *testing.T, c *cluster) {
		old := c.running()
		v := c.image("v2")
		c.badVersion(v, crash)
		c.runUntil("pause", time.Minute, c.ended)
		st := c.status()
		if st.State != api.UpdateStatePaused {
			t.Fatalf("update %s, want paused", st.State)
		}
		failed := c.firstOf(v)
		if !strings.Contains(st.Message, failed.ID) {
			t.Fatalf("message %q does not name the failed task %s", st.Message, failed.ID)
		}
		// No further batch, however long it waits (slot 1 keeps failing
		// under its restart policy).
		c.runFor(2 * time.Minute)
		if got := c.updateState(); got != api.UpdateStatePaused {
			t.Fatalf("update %s after waiting, want still paused", got)
		}
		run := c.running()
		for _, k := range []string{"slot/2", "slot/3"} {
			if run[k] == nil || run[k].ID != old[k].ID {
				t.Fatalf("%s runs %+v, want its old task %s", k, run[k], old[k].ID)
			}
		}
	})
}

func TestFailureActionContinue(t *testing.T) {
	for _, bad := range [][]uint64{{2}, {1, 2, 3}} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			sim(t, opts{replicas: 3, update: &api.UpdateConfig{Parallelism: 1, FailureAction: api.FailureActionContinue}}, func(t *testing.T, c *cluster) {
				v := c.image("v2")
				c.bad = func(t *api.Task) mode {
					if t.SpecVersion == v && slices.Contains(bad, t.Slot) {
						return crash
					}
					return good
				}
				c.runUntil("the update's end", 5*time.Minute, c.ended)
				if st := c.updateState(); st != api.UpdateStateCompleted {
					t.Fatalf("update %s, want completed (states %v)", st, c.states)
				}
				if slices.Contains(c.states, api.UpdateStatePaused) {
					t.Fatalf("paused on the way: %v", c.states)
				}
				for _, tk := range c.tasks() {
					if tk.Live() && tk.SpecVersion != v {
						t.Fatalf("task %s of %s still runs v%d", tk.ID, key(tk), tk.SpecVersion)
					}
				}
				if n, want := c.countRunning(v), 3-len(bad); n != want {
					t.Fatalf("%d v2 tasks run, want %d", n, want)
				}
			})
		})
	}
}

func TestFailureActionRollback(t *testing.T) {
	o := opts{replicas: 3,
		update:   &api.UpdateConfig{Parallelism: 1, FailureAction: api.FailureActionRollback},
		rollback: &api.UpdateConfig{Parallelism: 2, Order: api.UpdateOrderStartFirst}}
	sim(t, o, func(t *testing.T, c *cluster) {
		v := c.image("v2")
		c.crashAfter = time.Second
		// Slots 1 and 2 update well; slot 3's new task fails.
		c.bad = func(tk *api.Task) mode {
			if tk.SpecVersion == v && tk.Slot == 3 {
				return crashLate
			}
			return good
		}
		// The rollback is start-first with parallelism 2: slots 1 and 2
		// at once, each old task stopped only once its replacement runs.
		pairs := 0
		c.checks = append(c.checks, startFirstOrder(v+1), liveAtMost(3+2), func(c *cluster, _ time.Time) error {
			n := 0
			for _, ts := range c.slots() {
				old, back := false, false
				for _, tk := range ts {
					old = old || (tk.SpecVersion < v+1 && !tk.Status.State.Terminal())
					back = back || (tk.SpecVersion == v+1 && !tk.Status.State.Terminal())
				}
				if old && back {
					n++
				}
			}
			pairs = max(pairs, n)
			return nil
		})
		mark := len(c.states)
		c.runUntil("the rollback", 5*time.Minute, c.ended)
		svc := c.service()
		if st := svc.UpdateStatus; st.State != api.UpdateStateRollbackCompleted || st.CompletedAt == nil {
			t.Fatalf("update %+v, want rollback_completed with CompletedAt", st)
		}
		want := []string{api.UpdateStateUpdating, api.UpdateStateRollbackStarted, api.UpdateStateRollbackCompleted}
		if got := c.statesSince(mark); !slices.Equal(got, want) {
			t.Fatalf("states %v, want %v", got, want)
		}
		if !api.SameJSON(svc.Spec, c.spec1) {
			t.Fatalf("spec after rollback is not the previous spec:\n%+v\nwant\n%+v", svc.Spec, c.spec1)
		}
		var failed *api.Task
		for _, tk := range c.created {
			if tk.SpecVersion == v && tk.Slot == 3 && failed == nil {
				failed = tk
			}
		}
		if failed == nil || !strings.Contains(svc.UpdateStatus.Message, failed.ID) {
			t.Fatalf("message %q does not name slot 3's failed task %+v", svc.UpdateStatus.Message, failed)
		}
		// Two slots held their old task and its replacement at once
		// (rollback_config's parallelism and order, not update_config's).
		if pairs != 2 {
			t.Fatalf("at most %d slots had an old task and its replacement at once, want 2", pairs)
		}
		// Let slot 1's restart delay pass; then every slot runs the
		// previous spec.
		c.runFor(time.Minute)
		if err := c.converged(svc.SpecVersion, 3); err != nil {
			t.Fatal(err)
		}
		for _, tk := range c.running() {
			if !api.SameJSON(tk.Spec, c.spec1.TaskTemplate) {
				t.Fatalf("task %s runs %+v, want the previous spec", tk.ID, tk.Spec.ContainerSpec)
			}
		}
	})
}

func TestFailedRollbackPauses(t *testing.T) {
	sim(t, opts{replicas: 3, update: &api.UpdateConfig{Parallelism: 1, FailureAction: api.FailureActionRollback}}, func(t *testing.T, c *cluster) {
		v := c.image("v2")
		// Slots 1 and 2 update well, slot 3's new task crashes; the
		// rollback's tasks (of slots 1 and 2) fail too.
		c.bad = func(tk *api.Task) mode {
			switch {
			case tk.SpecVersion == v && tk.Slot == 3:
				return crash
			case tk.SpecVersion == v+1:
				return unhealthy
			}
			return good
		}
		c.runUntil("the rollback's end", 5*time.Minute, c.ended)
		svc := c.service()
		if st := svc.UpdateStatus.State; st != api.UpdateStateRollbackPaused {
			t.Fatalf("update %s, want rollback_paused (states %v)", st, c.states)
		}
		failed := c.firstOf(v + 1)
		if failed == nil || !strings.Contains(svc.UpdateStatus.Message, failed.ID) {
			t.Fatalf("message %q does not name the rollback's failed task", svc.UpdateStatus.Message)
		}
		// A rollback is never rolled back.
		c.runFor(2 * time.Minute)
		after := c.service()
		if after.SpecVersion != v+1 || after.UpdateStatus.State != api.UpdateStateRollbackPaused || !api.SameJSON(after.Spec, c.spec1) {
			t.Fatalf("after waiting: spec version %d state %s, want %d rollback_paused on the previous spec", after.SpecVersion, after.UpdateStatus.State, v+1)
		}
		if n := c.createdOf(v + 2); n != 0 {
			t.Fatalf("%d tasks of a further version", n)
		}
	})
}

func TestCompletion(t *testing.T) {
	for _, order := range []string{api.UpdateOrderStopFirst, api.UpdateOrderStartFirst} {
		t.Run(order, func(t *testing.T) {
			sim(t, opts{replicas: 3, update: &api.UpdateConfig{Parallelism: 2, Order: order}}, func(t *testing.T, c *cluster) {
				deployed := c.clock.Now()
				v := c.image("v2")
				c.runUntil("completion", 5*time.Minute, c.ended)
				st := c.status()
				if st.State != api.UpdateStateCompleted || st.StartedAt == nil || st.CompletedAt == nil {
					t.Fatalf("update %+v, want completed with StartedAt and CompletedAt", st)
				}
				// Two batches, each done once its tasks run (at once here),
				// then one final 5s monitor window.
				if !st.StartedAt.Equal(deployed) || !st.CompletedAt.Equal(deployed.Add(5*time.Second)) {
					t.Fatalf("started %v completed %v, want %v and +5s", st.StartedAt, st.CompletedAt, deployed)
				}
				if err := c.converged(v, 3); err != nil {
					t.Fatal(err)
				}
				// Once converged it stays so: no slot ever runs two tasks.
				c.checks = append(c.checks, func(c *cluster, _ time.Time) error { return c.converged(v, 3) })
				c.runFor(time.Minute)
				if n := c.createdOf(v); n != 3 {
					t.Fatalf("%d v2 tasks made, want 3", n)
				}
			})
		})
	}
}

// A new leader resumes the update from the store: finished slots stay.
func TestResumeAfterManagerRestart(t *testing.T) {
	for _, order := range []string{api.UpdateOrderStopFirst, api.UpdateOrderStartFirst} {
		for _, midDelay := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stopped mid-delay %v", order, midDelay), func(t *testing.T) {
				sim(t, opts{replicas: 4, update: &api.UpdateConfig{Parallelism: 1, Order: order, Delay: dur(5 * time.Second)}}, func(t *testing.T, c *cluster) {
					v := c.image("v2")
					c.settle()
					if !midDelay {
						c.advance(5 * time.Second) // slot 1's delay passed, slot 2 started
					}
					want := 1
					if !midDelay {
						want = 2
					}
					if n := c.countRunning(v); n != want {
						t.Fatalf("%d slots on v2 before the restart, want %d", n, want)
					}
					c.stop()
					c.advance(2 * time.Second) // no leader meanwhile
					c.start()
					c.runUntil("completion", 5*time.Minute, c.ended)
					if st := c.updateState(); st != api.UpdateStateCompleted {
						t.Fatalf("update %s, want completed", st)
					}
					if err := c.converged(v, 4); err != nil {
						t.Fatal(err)
					}
					if n := c.createdOf(v); n != 4 {
						t.Fatalf("%d v2 tasks made for 4 slots: finished slots were redone", n)
					}
					for _, tk := range c.tasks() {
						if tk.SpecVersion == v && tk.DesiredState != api.TaskStateRunning {
							t.Fatalf("v2 task %s of %s was stopped", tk.ID, key(tk))
						}
					}
				})
			})
		}
	}
}

func TestGlobalServiceUpdatesPerNode(t *testing.T) {
	sim(t, opts{global: true, nodes: 3, update: &api.UpdateConfig{Parallelism: 1, Delay: dur(5 * time.Second)}}, func(t *testing.T, c *cluster) {
		c.checks = append(c.checks, oneLivePerSlot, inFlightAtMost(1, 2, 0))
		v := c.image("v2")
		c.settle()
		if n := c.countRunning(v); n != 1 {
			t.Fatalf("%d nodes on v2 after the first batch, want 1", n)
		}
		c.advance(5 * time.Second)
		if n := c.countRunning(v); n != 2 {
			t.Fatalf("%d nodes on v2 after the second batch, want 2", n)
		}
		c.runUntil("completion", 5*time.Minute, func() bool { return c.updateState() == api.UpdateStateCompleted })
		if err := c.converged(v, 3); err != nil {
			t.Fatal(err)
		}
		for _, n := range c.nodes {
			if r := c.running()["node/"+n]; r == nil || r.NodeID != n {
				t.Fatalf("node %s runs %+v", n, r)
			}
		}
		if n := c.createdOf(v); n != 3 {
			t.Fatalf("%d v2 tasks made for 3 nodes", n)
		}
	})
}

// A start-first replacement that fails, the failure tolerated, hands its
// slot to the restart policy: the updater does not make replacement after
// replacement at one instant (a task that never becomes healthy made it
// churn without end).
func TestStartFirstFailedReplacementGoesToRestartPolicy(t *testing.T) {
	for _, m := range []mode{unhealthy, crash} {
		t.Run(fmt.Sprint(m), func(t *testing.T) {
			o := opts{replicas: 3, restart: &api.RestartPolicy{Delay: api.DurationPtr(10 * time.Second)},
				update: &api.UpdateConfig{Parallelism: 1, Order: api.UpdateOrderStartFirst, FailureAction: api.FailureActionContinue}}
			sim(t, o, func(t *testing.T, c *cluster) {
				v := c.image("v2")
				c.bad = func(tk *api.Task) mode {
					if tk.SpecVersion == v && tk.Slot == 1 {
						return m
					}
					return good
				}
				slot1 := func() int {
					n := 0
					for _, tk := range c.created {
						if tk.SpecVersion == v && tk.Slot == 1 {
							n++
						}
					}
					return n
				}
				c.settle()
				if n := slot1(); n != 1 {
					t.Fatalf("%d v2 tasks made for the failing slot at once, want 1\n%s", n, c.dump())
				}
				c.advance(10*time.Second - time.Millisecond)
				if n := slot1(); n != 1 {
					t.Fatalf("%d v2 tasks made for the failing slot before its restart delay passed, want 1\n%s", n, c.dump())
				}
				c.advance(time.Millisecond)
				if n := slot1(); n != 2 {
					t.Fatalf("%d v2 tasks made for the failing slot once its restart delay passed, want 2\n%s", n, c.dump())
				}
				c.runUntil("completion", 5*time.Minute, c.ended)
				if st := c.updateState(); st != api.UpdateStateCompleted {
					t.Fatalf("update %s, want completed", st)
				}
				for _, tk := range c.tasks() {
					if tk.Live() && tk.SpecVersion != v {
						t.Fatalf("task %s of %s still runs v%d", tk.ID, key(tk), tk.SpecVersion)
					}
				}
			})
		})
	}
}

// A rollback that starts while tasks the update told to stop are still
// stopping (start-first: the old task stops over its grace period while its
// replacement already runs, or has failed) still rolls every slot back.
func TestRollbackWhileOldTasksStop(t *testing.T) {
	for _, restart := range []string{api.RestartConditionAny, api.RestartConditionNone} {
		t.Run(restart, func(t *testing.T) {
			o := opts{replicas: 3, restart: &api.RestartPolicy{Condition: restart},
				update: &api.UpdateConfig{Parallelism: 2, Order: api.UpdateOrderStartFirst, FailureAction: api.FailureActionRollback}}
			sim(t, o, func(t *testing.T, c *cluster) {
				c.stopTook = 10 * time.Second
				c.crashAfter = 2 * time.Second
				v := c.image("v2")
				c.badSlot(v, 2, crashLate)
				c.runUntil("the rollback's end", 10*time.Minute, c.ended)
				if st := c.updateState(); st != api.UpdateStateRollbackCompleted {
					t.Fatalf("update %s, want rollback_completed", st)
				}
				c.runFor(time.Minute)
				for _, tk := range c.tasks() {
					if tk.Live() && tk.SpecVersion != v+1 {
						t.Fatalf("task %s of %s still runs v%d", tk.ID, key(tk), tk.SpecVersion)
					}
				}
				want := 3
				if restart == api.RestartConditionNone {
					want = 2 // slot 2's failed task is not restarted
				}
				if n := c.countRunning(v + 1); n != want {
					t.Fatalf("%d tasks run the previous spec, want %d\n%s", n, want, c.dump())
				}
			})
		})
	}
}

// A rollback replaces only the tasks the update replaced: a task that
// still runs the spec rolled back to is the rollback's already (Swarm
// compares specs, not versions), so a failure in the first batch restarts
// nothing else.
func TestRollbackKeepsTasksTheUpdateNeverReached(t *testing.T) {
	// The delay holds the second batch until the first task's crash is
	// seen: batches move on once tasks run, and the crash comes after.
	o := opts{replicas: 3, update: &api.UpdateConfig{Parallelism: 1, Delay: dur(time.Second), FailureAction: api.FailureActionRollback}}
	sim(t, o, func(t *testing.T, c *cluster) {
		before := c.running()
		v := c.image("v2")
		c.badVersion(v, crash)
		c.runUntil("the rollback", 5*time.Minute, c.ended)
		c.runFor(time.Minute)
		svc := c.service()
		if st := svc.UpdateStatus.State; st != api.UpdateStateRollbackCompleted {
			t.Fatalf("update %s, want rollback_completed", st)
		}
		if err := c.converged(svc.SpecVersion, 3); err != nil {
			t.Fatal(err)
		}
		kept := 0
		for k, tk := range c.running() {
			if b := before[k]; b != nil && b.ID == tk.ID {
				kept++
			}
		}
		if kept != 2 {
			t.Fatalf("%d slots kept their first task through the update and its rollback, want 2 (only the first batch's slot is replaced)\n%s", kept, c.dump())
		}
		if n := c.createdOf(svc.SpecVersion); n != 1 {
			t.Fatalf("the rollback made %d tasks, want 1", n)
		}
	})
}
