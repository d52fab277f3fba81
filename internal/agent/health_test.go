package agent

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

func TestHealthOfReadsTestFormsAndDefaults(t *testing.T) {
	if _, ok := healthOf(nil); ok {
		t.Error("no health check must mean none to run")
	}
	if _, ok := healthOf(&api.HealthCheck{Test: []string{"NONE"}}); ok {
		t.Error(`["NONE"] must disable the check`)
	}
	c, ok := healthOf(&api.HealthCheck{Test: []string{"CMD", "curl", "-f", "x"}})
	if !ok || strings.Join(c.argv, " ") != "curl -f x" {
		t.Errorf("CMD argv %q", c.argv)
	}
	if c.interval != 30*time.Second || c.timeout != 30*time.Second || c.retries != 3 || c.startPeriod != 0 || c.startInterval != 5*time.Second {
		t.Errorf("defaults %+v, want Docker's 30s/30s/3/0s/5s", c)
	}
	c, _ = healthOf(&api.HealthCheck{Test: []string{"CMD-SHELL", "exit 1"}, Retries: u64(2), Interval: api.DurationPtr(time.Second)})
	if strings.Join(c.argv, "|") != "/bin/sh|-c|exit 1" || c.retries != 2 || c.interval != time.Second {
		t.Errorf("CMD-SHELL config %+v", c)
	}
}

func u64(v uint64) *uint64 { return &v }

func fast(retries int, startPeriod time.Duration) healthConfig {
	return healthConfig{argv: []string{"check"}, interval: time.Millisecond, timeout: time.Second, retries: retries, startPeriod: startPeriod, startInterval: time.Millisecond}
}

func collect(ch <-chan healthUpdate, n int) []healthUpdate {
	var out []healthUpdate
	for u := range ch {
		out = append(out, u)
		if len(out) == n {
			break
		}
	}
	return out
}

func TestHealthySoonAsACheckPasses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	ch := checkHealth(ctx, fast(3, 0), time.Now(), func(context.Context, []string) (int, []byte, error) {
		if calls.Add(1) < 3 {
			return 1, []byte("no"), nil
		}
		return 0, nil, nil
	})
	got := collect(ch, 1)
	if len(got) != 1 || got[0].status != api.HealthHealthy {
		t.Fatalf("updates %+v, want healthy after two failures (retries 3)", got)
	}
}

func TestUnhealthyAfterRetriesFailuresWithLastOutput(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	ch := checkHealth(ctx, fast(2, 0), time.Now(), func(context.Context, []string) (int, []byte, error) {
		n := calls.Add(1)
		if n == 1 {
			return 0, nil, nil
		}
		return 1, []byte("  down " + string(rune('0'+n)) + "\n"), nil
	})
	got := collect(ch, 2)
	if len(got) != 2 || got[0].status != api.HealthHealthy || got[1].status != api.HealthUnhealthy {
		t.Fatalf("updates %+v, want healthy then unhealthy", got)
	}
	if got[1].output != "down 3" {
		t.Errorf("output %q, want the last check's trimmed output", got[1].output)
	}
	if _, open := <-ch; open {
		t.Error("checking goes on after unhealthy")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d checks, want 3 (1 success + 2 failures)", n)
	}
}

func TestStartPeriodFailuresDoNotCount(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	ch := checkHealth(ctx, fast(1, time.Hour), time.Now(), func(context.Context, []string) (int, []byte, error) {
		if calls.Add(1) < 20 {
			return 1, nil, nil
		}
		return 0, nil, nil
	})
	got := collect(ch, 1)
	if len(got) != 1 || got[0].status != api.HealthHealthy {
		t.Fatalf("updates %+v, want healthy: failures in the start period must not count", got)
	}
}

func TestCheckTimeoutCountsAsFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := fast(1, 0)
	cfg.timeout = 10 * time.Millisecond
	ch := checkHealth(ctx, cfg, time.Now(), func(ctx context.Context, _ []string) (int, []byte, error) {
		<-ctx.Done()
		return -1, nil, ctx.Err()
	})
	got := collect(ch, 1)
	if len(got) != 1 || got[0].status != api.HealthUnhealthy || !strings.Contains(got[0].output, "exceeded timeout") {
		t.Fatalf("updates %+v, want unhealthy with a timeout message", got)
	}
}

func TestCheckErrorIsReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := checkHealth(ctx, fast(1, 0), time.Now(), func(context.Context, []string) (int, []byte, error) {
		return -1, nil, errors.New("exec: no such file")
	})
	got := collect(ch, 1)
	if len(got) != 1 || got[0].output != "exec: no such file" {
		t.Fatalf("updates %+v", got)
	}
}

func TestCheckingStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := checkHealth(ctx, fast(3, 0), time.Now(), func(context.Context, []string) (int, []byte, error) { return 0, nil, nil })
	<-ch
	cancel()
	// The channel closes once the checker stops. The bound fails the test
	// instead of hanging it; it is not a timing assertion.
	deadline := time.After(20 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("health checking went on after its context was cancelled")
		}
	}
}
