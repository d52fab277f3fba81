package winproc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoalproject/shoal/internal/runtime"
)

// Stop asks the task to stop with a console break (CTRL_BREAK_EVENT) to
// its process group, waits up to grace for it to exit, then terminates its
// job. With no grace, or when the break cannot be sent (the agent has no
// console, as when it runs as a service), the job is terminated at once.
// The break reaches console programs attached to the agent's console that
// handle it (Go programs see os.Interrupt); a GUI program, one that made a
// console of its own, or one that ignores the break is terminated when
// the grace period ends.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	t, err := r.lookup(id)
	switch {
	case err != nil:
		return err
	case t == nil && r.leftOver(id):
		return nil
	case t == nil:
		return fmt.Errorf("task %s: %w", id, runtime.ErrUnknownTask)
	}
	if !r.markStopped(t, "") {
		return nil // exited already
	}
	why := "at once (no grace period)"
	if grace > 0 {
		if err := t.tree.Interrupt(); err != nil {
			why = fmt.Sprintf("at once: %v", err)
		} else {
			timer := time.NewTimer(grace)
			defer timer.Stop()
			select {
			case <-t.done:
				return nil
			case <-timer.C:
				why = fmt.Sprintf("after the grace period (%s)", grace)
			case <-ctx.Done():
				return fmt.Errorf("stop task %s: %w", id, ctx.Err())
			}
		}
	}
	if !r.markStopped(t, why) {
		return nil
	}
	stopErr := t.tree.Stop()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return errors.Join(fmt.Errorf("stop task %s: %w", id, ctx.Err()), stopErr)
	}
}

// markStopped records that Stop ends t, and why its job is terminated
// ("" while it is only asked to stop); false if t had exited already.
func (r *Runtime) markStopped(t *task, terminated string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-t.done:
		return false
	default:
	}
	t.stopped = true
	if terminated != "" && t.terminated == "" {
		t.terminated = terminated
	}
	return true
}
