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
