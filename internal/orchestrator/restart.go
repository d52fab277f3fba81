package orchestrator

import (
	"time"

	"github.com/shoalproject/shoal/api"
)

// restartPolicy is a service's restart policy with Swarm's defaults filled in.
type restartPolicy struct {
	condition   string
	delay       time.Duration
	maxAttempts uint64 // 0: unlimited
	window      time.Duration
}

func policyOf(spec *api.TaskSpec) restartPolicy {
	p := restartPolicy{condition: api.RestartConditionAny, delay: api.DefaultRestartDelay}
	rp := spec.RestartPolicy
	if rp == nil {
		return p
	}
	if rp.Condition != "" {
		p.condition = rp.Condition
	}
	if rp.Delay != nil {
		p.delay = rp.Delay.D()
	}
	if rp.MaxAttempts != nil {
		p.maxAttempts = *rp.MaxAttempts
	}
	if rp.Window != nil {
		p.window = rp.Window.D()
	}
	return p
}

// restartDecision says whether and when an ended task's slot gets a new task.
type restartDecision struct {
	restart bool
	// at is when the replacement may be made (the restart delay).
	at time.Time
	// restarts and windowStart are the counters the replacement carries.
	restarts    uint64
	windowStart time.Time
}

// decideRestart applies policy p to a task that ended on its own, for a
// service now at specVersion.
func decideRestart(p restartPolicy, dead *api.Task, specVersion uint64, now time.Time) restartDecision {
	if !(&api.RestartPolicy{Condition: p.condition}).RestartsAfter(dead.Status.State) {
		return restartDecision{}
	}
	d := restartDecision{restart: true, at: endedAt(dead).Add(p.delay)}
	// Counters restart when the spec changes, and when the window ends.
	switch {
	case dead.SpecVersion != specVersion:
		d.restarts, d.windowStart = 0, now
	case p.window > 0 && !dead.WindowStart.IsZero() && now.Sub(dead.WindowStart) > p.window:
		d.restarts, d.windowStart = 1, now
	default:
		d.restarts, d.windowStart = dead.Restarts+1, dead.WindowStart
		if d.windowStart.IsZero() {
			d.windowStart = now
		}
	}
	if p.maxAttempts > 0 && d.restarts > p.maxAttempts {
		return restartDecision{}
	}
	return d
}

// endedAt is when a task reached its terminal state.
func endedAt(t *api.Task) time.Time {
	if !t.Status.Timestamp.IsZero() {
		return t.Status.Timestamp
	}
	return t.UpdatedAt
}
