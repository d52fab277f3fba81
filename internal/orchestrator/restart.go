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
	// restarts and times are the counters the replacement carries.
	restarts uint64
	times    []time.Time
}

// decideRestart applies policy p to a task that ended on its own, for a
// service now at specVersion. As Swarm's restart supervisor: max_attempts
// bounds the restarts since the spec changed or, with a window, those of
// the window before now (a sliding window: a restart counts until
// window after the end it followed). The decision is made again on
// every pass, so a slot that gave up is refilled once its window holds
// fewer restarts, as Swarm's next reconcile does.
func decideRestart(p restartPolicy, dead *api.Task, specVersion uint64, now time.Time) restartDecision {
	if !(&api.RestartPolicy{Condition: p.condition}).RestartsAfter(dead.Status.State) {
		return restartDecision{}
	}
	end := endedAt(dead)
	d := restartDecision{restart: true, at: end.Add(p.delay)}
	var times []time.Time
	if dead.SpecVersion == specVersion {
		// A spec change starts the counts again.
		d.restarts, times = dead.Restarts+1, dead.RestartTimes
	}
	switch {
	case p.maxAttempts == 0:
		return d
	case p.window == 0:
		if d.restarts > p.maxAttempts {
			return restartDecision{}
		}
		return d
	}
	lookback := now.Add(-p.window)
	var in []time.Time
	for _, t := range times {
		if !t.Before(lookback) {
			in = append(in, t)
		}
	}
	if uint64(len(in)) >= p.maxAttempts {
		return restartDecision{}
	}
	in = append(in, end)
	if len(in) > api.MaxRestartTimes {
		in = in[len(in)-api.MaxRestartTimes:]
	}
	d.times = in
	return d
}

// endedAt is when a task reached its terminal state.
func endedAt(t *api.Task) time.Time {
	if !t.Status.Timestamp.IsZero() {
		return t.Status.Timestamp
	}
	return t.UpdatedAt
}
