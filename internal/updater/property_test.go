package updater

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
)

// For any replicas, parallelism, order, failure action, ratio and set of
// slots whose new task fails, the update ends completed (every task on the
// new version), paused (naming a failed task) or rolled back (every task on
// the previous spec), never with more than replicas + parallelism tasks
// live, and a start-first update where nothing fails never runs fewer
// than replicas.
func TestPropertyUpdateEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// rapid asks a *testing.T for its deadline, which a bubble forbids.
		rapid.Check(bubbleTB{t}, func(rt *rapid.T) {
			replicas := rapid.IntRange(1, 5).Draw(rt, "replicas")
			par := rapid.IntRange(0, 3).Draw(rt, "parallelism")
			order := rapid.SampledFrom([]string{api.UpdateOrderStopFirst, api.UpdateOrderStartFirst}).Draw(rt, "order")
			action := rapid.SampledFrom([]string{api.FailureActionPause, api.FailureActionContinue, api.FailureActionRollback}).Draw(rt, "action")
			ratio := rapid.SampledFrom([]float32{0, 0.25, 0.5, 1}).Draw(rt, "ratio")
			delay := rapid.SampledFrom([]time.Duration{0, 2 * time.Second}).Draw(rt, "delay")
			skew := rapid.SampledFrom([]time.Duration{0, time.Hour, 30 * time.Second, -30 * time.Second, -time.Hour}).Draw(rt, "agent clock skew")
			back := rapid.SampledFrom([]time.Duration{0, 0, 30 * time.Second, time.Hour}).Draw(rt, "leader clock steps back")
			bad := map[uint64]mode{}
			for s := 1; s <= replicas; s++ {
				if m := rapid.SampledFrom([]mode{good, good, crash, unhealthy}).Draw(rt, fmt.Sprintf("slot%d", s)); m != good {
					bad[uint64(s)] = m
				}
			}
			c := newCluster(rt, opts{replicas: uint64(replicas), update: &api.UpdateConfig{
				Parallelism: uint64(par), Order: order, FailureAction: action, MaxFailureRatio: ratio, Delay: api.Duration(delay)}})
			defer c.close()
			c.skew = skew
			batch := par
			if par == 0 {
				batch = replicas
			}
			c.checks = append(c.checks, liveAtMost(replicas+batch))
			if order == api.UpdateOrderStopFirst {
				c.checks = append(c.checks, oneLivePerSlot) // the rollback is stop-first too
			} else if len(bad) == 0 {
				c.checks = append(c.checks, runningAtLeast(replicas), startFirstOrder(2))
			}
			v := c.image("v2")
			c.bad = func(t *api.Task) mode {
				if t.SpecVersion == v {
					return bad[t.Slot]
				}
				return good
			}
			c.clock.Advance(-back)
			c.runUntil("the update's end", 30*time.Minute+back, c.ended)
			end := c.updateState()
			c.runFor(time.Minute) // restart delays pass; nothing else moves
			if err := endedTasksStopWanting(c); err != nil {
				rt.Fatalf("%v\n%s", err, c.dump())
			}
			svc := c.service()
			st := svc.UpdateStatus
			if st.State != end {
				rt.Fatalf("update %s, then %s", end, st.State)
			}
			allowed := map[string][]string{
				api.FailureActionPause:    {api.UpdateStateCompleted, api.UpdateStatePaused},
				api.FailureActionContinue: {api.UpdateStateCompleted},
				api.FailureActionRollback: {api.UpdateStateCompleted, api.UpdateStateRollbackCompleted},
			}[action]
			switch {
			case len(bad) == 0:
				allowed = []string{api.UpdateStateCompleted}
			case ratio == 0 && action != api.FailureActionContinue:
				allowed = allowed[1:] // the first failure acts
			}
			ok := false
			for _, a := range allowed {
				ok = ok || a == st.State
			}
			if !ok {
				rt.Fatalf("update %s (%v), want one of %v\n%s", st.State, c.states, allowed, c.dump())
			}
			switch st.State {
			case api.UpdateStateCompleted:
				run := c.running()
				for s := 1; s <= replicas; s++ {
					r := run[fmt.Sprintf("slot/%d", s)]
					if _, isBad := bad[uint64(s)]; isBad {
						if r != nil {
							rt.Fatalf("slot %d runs %s v%d, its new task should fail", s, r.ID, r.SpecVersion)
						}
					} else if r == nil || r.SpecVersion != v {
						rt.Fatalf("slot %d runs %+v, want a v2 task\n%s", s, r, c.dump())
					}
				}
				for _, tk := range c.tasks() {
					if tk.Live() && tk.SpecVersion != v {
						rt.Fatalf("task %s of %s is live on v%d after completion", tk.ID, key(tk), tk.SpecVersion)
					}
				}
				if len(bad) == 0 {
					if err := c.converged(v, replicas); err != nil {
						rt.Fatal(err)
					}
				}
			case api.UpdateStatePaused:
				if !namesFailedTask(c, st.Message, v) {
					rt.Fatalf("message %q names no failed v2 task", st.Message)
				}
			case api.UpdateStateRollbackCompleted:
				if !namesFailedTask(c, st.Message, v) {
					rt.Fatalf("message %q names no failed v2 task", st.Message)
				}
				if !api.SameJSON(svc.Spec, c.spec1) {
					rt.Fatalf("spec after the rollback is not the previous one")
				}
				if err := c.converged(svc.SpecVersion, replicas); err != nil {
					rt.Fatalf("%v\n%s", err, c.dump())
				}
				for _, tk := range c.running() {
					if !api.SameJSON(tk.Spec, c.spec1.TaskTemplate) {
						rt.Fatalf("task %s does not run the previous spec", tk.ID)
					}
				}
			}
		})
	})
}

// endedTasksStopWanting checks that an ended task keeps desired state
// running only while it waits for its restart: as the newest task of a
// slot that runs nothing else.
func endedTasksStopWanting(c *cluster) error {
	newest := map[string]*api.Task{}
	live := map[string]bool{}
	for _, tk := range c.tasks() {
		k := key(tk)
		if n := newest[k]; n == nil || tk.NewerThan(n) {
			newest[k] = tk
		}
		live[k] = live[k] || tk.Live()
	}
	for _, tk := range c.tasks() {
		if tk.Status.State.Terminal() && tk.DesiredState == api.TaskStateRunning && (live[key(tk)] || newest[key(tk)] != tk) {
			return fmt.Errorf("ended task %s of %s (v%d, %s) still has desired state running", tk.ID, key(tk), tk.SpecVersion, tk.Status.State)
		}
	}
	return nil
}

// namesFailedTask reports whether msg names a task of version v that
// failed in a slot whose new task fails.
func namesFailedTask(c *cluster, msg string, v uint64) bool {
	for _, t := range c.created {
		if t.SpecVersion == v && strings.Contains(msg, t.ID) && c.modeOf(t) != good {
			return true
		}
	}
	return false
}

// bubbleTB hides the *testing.T from rapid's deadline lookup.
type bubbleTB struct{ *testing.T }

// Deploys and rollbacks sent one after another at any moment — settled,
// after a few timers (inside a batch or a monitor window), or right after
// a task ended and before the controllers reacted — end as the last one
// asked: an update completes, a rollback completes as a rollback (never
// taken over by an ordinary update), and every slot runs the service's
// final spec version.
func TestPropertyBackToBackDeploysAndRollbacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rapid.Check(bubbleTB{t}, func(rt *rapid.T) {
			replicas := rapid.IntRange(1, 3).Draw(rt, "replicas")
			par := rapid.IntRange(0, 2).Draw(rt, "parallelism")
			order := rapid.SampledFrom([]string{api.UpdateOrderStopFirst, api.UpdateOrderStartFirst}).Draw(rt, "order")
			cfg := &api.UpdateConfig{Parallelism: uint64(par), Order: order, Monitor: dur(5 * time.Second)}
			stopTook := rapid.SampledFrom([]time.Duration{0, time.Second}).Draw(rt, "stop took")
			c := newCluster(rt, opts{replicas: uint64(replicas), update: cfg, rollback: cfg})
			defer c.close()
			c.stopTook = stopTook
			c.checks = append(c.checks, completesConverged(replicas))
			if order == api.UpdateOrderStopFirst {
				c.checks = append(c.checks, oneLivePerSlot)
			}

			var lastRollback bool
			var since int // index in c.states where the last change began
			change := func(i int) {
				cur := c.service()
				var targets []uint64
				for _, h := range cur.History {
					if api.TaskSpecChanged(&h.Spec, &cur.Spec) {
						targets = append(targets, h.Revision)
					}
				}
				since = len(c.states)
				if len(targets) > 0 && rapid.Bool().Draw(rt, fmt.Sprintf("rollback%d", i)) {
					c.rollbackTo(rapid.SampledFrom(targets).Draw(rt, fmt.Sprintf("revision%d", i)))
					lastRollback = true
					return
				}
				c.image(fmt.Sprintf("v%d", i+2))
				lastRollback = false
			}
			n := rapid.IntRange(2, 4).Draw(rt, "changes")
			for i := 0; i < n; i++ {
				switch rapid.SampledFrom([]string{"settled", "after timers", "after a report"}).Draw(rt, fmt.Sprintf("when%d", i)) {
				case "settled":
					change(i)
				case "after timers":
					for k := rapid.IntRange(1, 3).Draw(rt, fmt.Sprintf("timers%d", i)); k > 0 && c.step(); k-- {
					}
					change(i)
				case "after a report":
					c.afterReport = func() {
						c.clock.Advance(time.Millisecond) // lands just after the report
						change(i)
					}
					for c.afterReport != nil && c.step() {
					}
					if c.afterReport != nil { // nothing was left to report
						c.afterReport = nil
						change(i)
					}
				}
				c.settle()
			}
			want := api.UpdateStateCompleted
			if lastRollback {
				want = api.UpdateStateRollbackCompleted
			}
			c.runUntil("the last change's end", 30*time.Minute, func() bool { return c.updateState() == want })
			c.runFor(time.Minute)
			if st := c.updateState(); st != want {
				rt.Fatalf("update %s after %v, want %s\n%s", st, c.states, want, c.dump())
			}
			for _, s := range c.states[since:] {
				if lastRollback != (s == api.UpdateStateRollbackStarted || s == api.UpdateStateRollbackCompleted) {
					rt.Fatalf("states %v after the last change (a rollback: %v)\n%s", c.states[since:], lastRollback, c.dump())
				}
			}
			if err := c.converged(c.service().SpecVersion, replicas); err != nil {
				rt.Fatalf("%v\n%s", err, c.dump())
			}
		})
	})
}
