package agent

import (
	"context"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
)

// Health check defaults, as Docker's.
const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 30 * time.Second
	defaultHealthRetries       = 3
	defaultHealthStartInterval = 5 * time.Second
)

// healthConfig is a health check with its defaults filled in.
type healthConfig struct {
	argv          []string
	interval      time.Duration
	timeout       time.Duration
	retries       int
	startPeriod   time.Duration
	startInterval time.Duration
}

// healthOf reads a spec's health check. It reports false when there is none
// to run: no check, or ["NONE"].
func healthOf(hc *api.HealthCheck) (healthConfig, bool) {
	if hc == nil || len(hc.Test) == 0 {
		return healthConfig{}, false
	}
	c := healthConfig{
		interval:      defaultHealthInterval,
		timeout:       defaultHealthTimeout,
		retries:       defaultHealthRetries,
		startInterval: defaultHealthStartInterval,
	}
	switch hc.Test[0] {
	case "NONE":
		return c, false
	case "CMD":
		c.argv = hc.Test[1:]
	case "CMD-SHELL":
		c.argv = []string{"/bin/sh", "-c", strings.Join(hc.Test[1:], " ")}
	default:
		// A bare command, as some tools write it, runs through the shell.
		c.argv = []string{"/bin/sh", "-c", strings.Join(hc.Test, " ")}
	}
	if len(c.argv) == 0 {
		return c, false
	}
	if hc.Interval != nil && *hc.Interval > 0 {
		c.interval = hc.Interval.D()
	}
	if hc.Timeout != nil && *hc.Timeout > 0 {
		c.timeout = hc.Timeout.D()
	}
	if hc.Retries != nil && *hc.Retries > 0 {
		c.retries = int(*hc.Retries)
	}
	if hc.StartPeriod != nil && *hc.StartPeriod > 0 {
		c.startPeriod = hc.StartPeriod.D()
	}
	if hc.StartInterval != nil && *hc.StartInterval > 0 {
		c.startInterval = hc.StartInterval.D()
	}
	return c, true
}

// healthUpdate is a change of a task's health, with the output of the check
// that caused it.
type healthUpdate struct {
	status string
	output string
}

// probe runs one check and reports its exit code and output.
type probe func(ctx context.Context, argv []string) (int, []byte, error)

// checkHealth runs c's checks from started on until ctx ends, and sends each
// change of status on the returned channel (closed when it stops). The
// status starts as "starting". A success makes it healthy. During the start
// period failures do not count (and checks run every start interval); after
// it, retries failures in a row make it unhealthy, after which checking
// stops.
func checkHealth(ctx context.Context, c healthConfig, started time.Time, run probe) <-chan healthUpdate {
	out := make(chan healthUpdate, 1)
	go func() {
		defer close(out)
		status := api.HealthStarting
		failures := 0
		timer := time.NewTimer(c.next(status, started))
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			pctx, cancel := context.WithTimeout(ctx, c.timeout)
			code, output, err := run(pctx, c.argv)
			timedOut := pctx.Err() == context.DeadlineExceeded
			cancel()
			if ctx.Err() != nil {
				return
			}
			text := strings.TrimSpace(string(output))
			switch {
			case timedOut:
				text = "health check exceeded timeout (" + c.timeout.String() + ")"
			case err != nil:
				text = err.Error()
			}
			next := status
			if err == nil && !timedOut && code == 0 {
				failures = 0
				next = api.HealthHealthy
			} else if status != api.HealthStarting || time.Since(started) >= c.startPeriod {
				failures++
				if failures >= c.retries {
					next = api.HealthUnhealthy
				}
			}
			if next != status {
				status = next
				select {
				case out <- healthUpdate{status: status, output: text}:
				case <-ctx.Done():
					return
				}
				if status == api.HealthUnhealthy {
					return
				}
			}
			timer.Reset(c.next(status, started))
		}
	}()
	return out
}

// next is the wait before the next check.
func (c healthConfig) next(status string, started time.Time) time.Duration {
	if status == api.HealthStarting && c.startPeriod > 0 && time.Since(started) < c.startPeriod {
		return c.startInterval
	}
	return c.interval
}
