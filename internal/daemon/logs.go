package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// logStreamer is implemented by runtimes that stream a task's output (the
// docker runtime).
type logStreamer interface {
	Logs(ctx context.Context, taskID string, follow bool, w io.Writer) error
}

// TaskLogs writes the output a task on this node left: its stdout, then
// its stderr for a process task, or the container's log. follow keeps
// streaming until ctx ends; it needs a runtime that streams logs.
func (d *Dev) TaskLogs(ctx context.Context, task *api.Task, follow bool, w io.Writer) error {
	var rt runtime.Runtime = d.runtime
	if task.Spec.Runtime() == api.RuntimeDocker {
		if d.docker == nil {
			return fmt.Errorf("logs of task %s: the docker runtime is not available on this node", task.ID)
		}
		rt = d.docker
	}
	if ls, ok := rt.(logStreamer); ok {
		return ls.Logs(ctx, task.ID, follow, w)
	}
	lr, ok := rt.(runtime.LogReader)
	if !ok {
		return fmt.Errorf("logs of task %s: the %s runtime keeps no logs", task.ID, rt.Name())
	}
	if follow {
		return fmt.Errorf("logs of task %s: --follow is not supported for process tasks yet; run without it", task.ID)
	}
	stdout, stderr, err := lr.LogPaths(task.ID)
	if err != nil {
		return fmt.Errorf("logs of task %s: %w", task.ID, err)
	}
	for _, p := range []string{stdout, stderr} {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("logs of task %s: %w", task.ID, err)
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("logs of task %s: %w", task.ID, err)
		}
	}
	return nil
}
