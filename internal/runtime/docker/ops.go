package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Wait blocks until the task's container exits or is removed, or ctx ends,
// and returns how it ended: its exit code (137 for a container killed, as
// docker rm -f does) with "exited with code N", or "container removed" for a
// container removed.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	t, err := r.lookup(ctx, id)
	if err != nil {
		return runtime.ExitStatus{}, fmt.Errorf("wait task %s: %w", id, err)
	}
	select {
	case <-t.done:
		return t.status, nil
	case <-ctx.Done():
		return runtime.ExitStatus{}, fmt.Errorf("wait task %s: %w", id, ctx.Err())
	case <-r.closed:
		return runtime.ExitStatus{}, fmt.Errorf("wait task %s: %w", id, ErrClosed)
	}
}

// Stop has the engine send the container's stop signal, wait up to grace
// (rounded up to whole seconds, as the engine counts) and then kill it. It
// returns once the container has exited; stopping a task that ended, or
// whose container is gone, is no error.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	t, err := r.lookup(ctx, id)
	if err != nil {
		return fmt.Errorf("stop task %s: %w", id, err)
	}
	if t.exited() {
		return nil
	}
	secs := seconds(grace)
	if _, err := r.cli.ContainerStop(ctx, t.containerID, client.ContainerStopOptions{Timeout: &secs}); err != nil {
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stop task %s: %w", id, err)
		}
	}
	// The engine answers once the container has stopped: record how it
	// ended now rather than when its event comes.
	if err := r.refresh(ctx, t); err != nil {
		return fmt.Errorf("stop task %s: %w", id, err)
	}
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop task %s: %w", id, ctx.Err())
	case <-r.closed:
		return fmt.Errorf("stop task %s: %w", id, ErrClosed)
	}
}

// Remove removes the task's container (killing it if it still runs) with
// its anonymous volumes, and the task's files.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	t, err := r.lookup(ctx, id)
	if err != nil {
		if errors.Is(err, runtime.ErrUnknownTask) {
			if _, serr := os.Stat(r.taskFilesDir(id)); checkID(id) == nil && serr == nil {
				r.removeFiles(id)
				return nil
			}
		}
		return fmt.Errorf("remove task %s: %w", id, err)
	}
	_, err = r.cli.ContainerRemove(ctx, t.containerID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove task %s: %w", id, err)
	}
	t.finish(removedStatus(137, time.Now()))
	r.mu.Lock()
	r.unregister(t)
	r.mu.Unlock()
	r.removeFiles(id)
	return nil
}

// List returns the tasks whose containers are on the node (labelled with
// its node ID), running or not, adopting those this Runtime did not know:
// after an agent restart, it finds what the earlier agent started.
func (r *Runtime) List(ctx context.Context) ([]runtime.Handle, error) {
	if r.isClosed() {
		return nil, fmt.Errorf("list tasks: %w", ErrClosed)
	}
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", LabelNodeID+"="+r.nodeID),
	})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var ts []*task
	r.mu.Lock()
	for _, c := range res.Items {
		id := c.Labels[LabelTaskID]
		if checkID(id) != nil || r.starting[id] {
			continue
		}
		t := r.tasks[id]
		if t == nil {
			t = r.register(r.newTask(id, c.ID))
		}
		ts = append(ts, t)
	}
	// Tasks whose container went while this Runtime watched are listed,
	// ended, until they are removed.
	for _, t := range r.tasks {
		if !slices.Contains(ts, t) && !r.starting[t.id] {
			ts = append(ts, t)
		}
	}
	r.mu.Unlock()

	var errs []error
	handles := make([]runtime.Handle, 0, len(ts))
	for _, t := range ts {
		if err := r.verify(ctx, t); err != nil {
			errs = append(errs, fmt.Errorf("task %s: %w", t.id, err))
			continue
		}
		handles = append(handles, t.handle())
	}
	slices.SortFunc(handles, func(a, b runtime.Handle) int { return strings.Compare(a.TaskID, b.TaskID) })
	if len(errs) > 0 {
		return handles, fmt.Errorf("list tasks: %w", errors.Join(errs...))
	}
	return handles, nil
}

// Logs writes the container's output, stdout and stderr demultiplexed, to
// w, as opts say (Docker's own logs options); with opts.Follow it keeps
// writing until the container ends or ctx ends.
func (r *Runtime) Logs(ctx context.Context, id string, opts api.LogOptions, w io.Writer) error {
	t, err := r.lookup(ctx, id)
	if err != nil {
		return fmt.Errorf("logs of task %s: %w", id, err)
	}
	lo := client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Timestamps: opts.Timestamps,
		Details:    opts.Details,
	}
	if opts.Tail >= 0 {
		lo.Tail = strconv.Itoa(opts.Tail)
	}
	if !opts.Since.IsZero() {
		lo.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	rc, err := r.cli.ContainerLogs(ctx, t.containerID, lo)
	if err != nil {
		return fmt.Errorf("logs of task %s: %w", id, err)
	}
	defer rc.Close()
	copyLogs := func() error { _, err := stdcopy.StdCopy(w, w, rc); return err }
	if res, err := r.cli.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{}); err == nil && res.Container.Config != nil && res.Container.Config.Tty {
		// A TTY's output comes as it is, not multiplexed.
		copyLogs = func() error { _, err := io.Copy(w, rc); return err }
	}
	if err := copyLogs(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("logs of task %s: %w", id, ctx.Err())
		}
		return fmt.Errorf("logs of task %s: %w", id, err)
	}
	return nil
}

// NetNS returns the path of the network namespace of the task's running
// container, through its main process: /proc/PID/ns/net.
func (r *Runtime) NetNS(ctx context.Context, id string) (string, error) {
	t, err := r.lookup(ctx, id)
	if err != nil {
		return "", fmt.Errorf("network namespace of task %s: %w", id, err)
	}
	res, err := r.cli.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("network namespace of task %s: inspect container %s: %w", id, shortID(t.containerID), err)
	}
	if st := res.Container.State; st == nil || !st.Running || st.Pid <= 0 {
		return "", fmt.Errorf("network namespace of task %s: container %s is not running", id, shortID(t.containerID))
	}
	return fmt.Sprintf("/proc/%d/ns/net", res.Container.State.Pid), nil
}

// EngineRoute says a container keeps Docker's bridge as its way out.
func (r *Runtime) EngineRoute() bool { return true }
