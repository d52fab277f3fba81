package cli

import (
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// An ended task shows its exit code only when it had one: a rejected task,
// one lost while no agent watched it, or one whose code is unknown says
// how it ended instead of "Exited (0)".
func TestPsStatusSaysHowATaskEnded(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	code := func(c int) *int { return &c }
	for _, c := range []struct {
		st   api.TaskStatus
		want string
	}{
		{api.TaskStatus{State: api.TaskStateRunning}, "Up 2 minutes"},
		{api.TaskStatus{State: api.TaskStateComplete, ExitCode: code(0)}, "Exited (0) 2 minutes ago"},
		{api.TaskStatus{State: api.TaskStateFailed, ExitCode: code(137)}, "Exited (137) 2 minutes ago"},
		{api.TaskStatus{State: api.TaskStateRejected, Err: "no such image"}, "Rejected 2 minutes ago"},
		{api.TaskStatus{State: api.TaskStateFailed, Message: "task lost"}, "Failed 2 minutes ago"},
		{api.TaskStatus{State: api.TaskStateFailed, ExitCode: code(-1)}, "Failed 2 minutes ago"},
		{api.TaskStatus{State: api.TaskStateShutdown}, "Shutdown 2 minutes ago"},
		{api.TaskStatus{State: api.TaskStateStarting}, "Starting"},
	} {
		c.st.Timestamp = now.Add(-2 * time.Minute)
		if got := psStatus(&api.Task{Status: c.st}, now); got != c.want {
			t.Errorf("%s (exit %v): %q, want %q", c.st.State, c.st.ExitCode, got, c.want)
		}
	}
}
