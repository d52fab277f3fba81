package updater

import (
	"slices"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// pauseOnCrashingVersion deploys a version whose tasks crash and waits
// until its update pauses; it returns that version.
func (c *cluster) pauseOnCrashingVersion() uint64 {
	c.t.Helper()
	v := c.image("v2")
	c.badVersion(v, crash)
	c.runUntil("pause", time.Minute, c.ended)
	if st := c.updateState(); st != api.UpdateStatePaused {
		c.t.Fatalf("update %s, want paused", st)
	}
	return v
}

func TestPausedUpdateResumesOnNextSpecUpdate(t *testing.T) {
	sim(t, opts{replicas: 3}, func(t *testing.T, c *cluster) {
		c.pauseOnCrashingVersion()
		mark := len(c.states)
		v3 := c.image("v3")
		c.runUntil("completion", 5*time.Minute, c.ended)
		if got, want := c.statesSince(mark), []string{api.UpdateStateUpdating, api.UpdateStateCompleted}; !slices.Equal(got, want) {
			t.Fatalf("states %v, want %v", got, want)
		}
		if err := c.converged(v3, 3); err != nil {
			t.Fatal(err)
		}
	})
}

// Any update resumes a paused update and restarts it, as swarmkit's
// clearing of UpdateStatus does: an identical one, and one that changes
// only the replica count.
func TestAnyServiceUpdateResumesAPausedUpdate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replicas uint64
	}{{"identical", 3}, {"replicas only", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			sim(t, opts{replicas: 3}, func(t *testing.T, c *cluster) {
				v := c.pauseOnCrashingVersion()
				c.bad = nil // the cause is fixed (a dependency came back)
				c.advance(time.Second)
				mark := len(c.states)
				if got := c.deploy(func(s *api.ServiceSpec) { s.Mode.Replicated.Replicas = tc.replicas }); got != v {
					t.Fatalf("spec version %d, want %d: the update changed no task", got, v)
				}
				c.runUntil("completion", 5*time.Minute, c.ended)
				if got, want := c.statesSince(mark), []string{api.UpdateStateUpdating, api.UpdateStateCompleted}; !slices.Equal(got, want) {
					t.Fatalf("states %v, want %v: %s\n%s", got, want, c.status().Message, c.dump())
				}
				if err := c.converged(v, int(tc.replicas)); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// A leader clock that steps back (NTP, a data folder moved to a host that
// is behind) does not stall a start-first update: the update's tasks are
// known by the Raft index of their creation, not by a time that is now
// before the update's start, so each slot gets exactly one new task.
func TestStartFirstUpdateSurvivesLeaderClockSteppingBack(t *testing.T) {
	for _, order := range []string{api.UpdateOrderStartFirst, api.UpdateOrderStopFirst} {
		t.Run(order, func(t *testing.T) {
			sim(t, opts{replicas: 3, update: &api.UpdateConfig{Parallelism: 1, Order: order}}, func(t *testing.T, c *cluster) {
				v := c.image("v2")
				c.clock.Advance(-time.Hour)
				c.runUntil("completion", 2*time.Hour, c.ended)
				if st := c.updateState(); st != api.UpdateStateCompleted {
					t.Fatalf("update %s, want completed", st)
				}
				if err := c.converged(v, 3); err != nil {
					t.Fatal(err)
				}
				if n := c.createdOf(v); n != 3 {
					t.Fatalf("%d v2 tasks made for 3 slots, want 3", n)
				}
			})
		})
	}
}
