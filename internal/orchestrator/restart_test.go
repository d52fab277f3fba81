package orchestrator

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

func u64(v uint64) *uint64 { return &v }

func TestRestartPolicyDefaultsAreSwarms(t *testing.T) {
	p := policyOf(&api.TaskSpec{})
	if p.condition != api.RestartConditionAny || p.delay != 5*time.Second || p.maxAttempts != 0 || p.window != 0 {
		t.Fatalf("defaults = %+v, want any/5s/unlimited/unbounded", p)
	}
}

func TestDecideRestart(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ended := now.Add(-2 * time.Second)
	task := func(state api.TaskState, restarts uint64, version uint64, times ...time.Time) *api.Task {
		return &api.Task{SpecVersion: version, Restarts: restarts, RestartTimes: times,
			Status: api.TaskStatus{State: state, Timestamp: ended}}
	}
	cases := []struct {
		name        string
		policy      api.RestartPolicy
		dead        *api.Task
		wantRestart bool
		wantAt      time.Time
		wantCount   uint64
	}{
		{"any restarts a failed task after the delay", api.RestartPolicy{}, task(api.TaskStateFailed, 0, 1), true, ended.Add(5 * time.Second), 1},
		{"any restarts a completed task", api.RestartPolicy{Condition: "any"}, task(api.TaskStateComplete, 0, 1), true, ended.Add(5 * time.Second), 1},
		{"on-failure restarts a failed task", api.RestartPolicy{Condition: "on-failure"}, task(api.TaskStateFailed, 0, 1), true, ended.Add(5 * time.Second), 1},
		{"on-failure leaves a completed task", api.RestartPolicy{Condition: "on-failure"}, task(api.TaskStateComplete, 0, 1), false, time.Time{}, 0},
		{"on-failure restarts a rejected task", api.RestartPolicy{Condition: "on-failure"}, task(api.TaskStateRejected, 0, 1), true, ended.Add(5 * time.Second), 1},
		{"none never restarts", api.RestartPolicy{Condition: "none"}, task(api.TaskStateFailed, 0, 1), false, time.Time{}, 0},
		{"delay zero restarts at once", api.RestartPolicy{Delay: api.DurationPtr(0)}, task(api.TaskStateFailed, 0, 1), true, ended, 1},
		{"max attempts allows the last attempt", api.RestartPolicy{MaxAttempts: u64(2)}, task(api.TaskStateFailed, 1, 1), true, ended.Add(5 * time.Second), 2},
		{"max attempts reached gives up", api.RestartPolicy{MaxAttempts: u64(2)}, task(api.TaskStateFailed, 2, 1), false, time.Time{}, 0},
		{"a spec change resets the count", api.RestartPolicy{MaxAttempts: u64(2)}, task(api.TaskStateFailed, 2, 0), true, ended.Add(5 * time.Second), 0},
		{"restarts before the window don't count", api.RestartPolicy{MaxAttempts: u64(2), Window: api.DurationPtr(time.Minute)}, task(api.TaskStateFailed, 2, 1, now.Add(-3*time.Minute), now.Add(-2*time.Minute)), true, ended.Add(5 * time.Second), 3},
		{"max attempts in the window gives up", api.RestartPolicy{MaxAttempts: u64(2), Window: api.DurationPtr(time.Minute)}, task(api.TaskStateFailed, 2, 1, now.Add(-50*time.Second), now.Add(-30*time.Second)), false, time.Time{}, 0},
		// A sliding window, as Swarm's: the restart 70s ago left it, the
		// one 50s ago is still in it. (A window fixed at its first
		// restart, 70s ago, would have ended and let a third restart
		// follow at once.)
		{"the window slides", api.RestartPolicy{MaxAttempts: u64(2), Window: api.DurationPtr(time.Minute)}, task(api.TaskStateFailed, 2, 1, now.Add(-70*time.Second), now.Add(-50*time.Second)), true, ended.Add(5 * time.Second), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pol := tc.policy
			d := decideRestart(policyOf(&api.TaskSpec{RestartPolicy: &pol}), tc.dead, 1, now)
			if d.restart != tc.wantRestart {
				t.Fatalf("restart = %v, want %v", d.restart, tc.wantRestart)
			}
			if !d.restart {
				return
			}
			if !d.at.Equal(tc.wantAt) {
				t.Errorf("at = %v, want %v", d.at, tc.wantAt)
			}
			if d.restarts != tc.wantCount {
				t.Errorf("restarts = %d, want %d", d.restarts, tc.wantCount)
			}
		})
	}
}
