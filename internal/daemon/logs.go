package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// logStreamer is implemented by runtimes that stream a task's output (the
// docker runtime).
type logStreamer interface {
	Logs(ctx context.Context, taskID string, follow bool, w io.Writer) error
}

// TaskLogs writes the output a task left: its stdout, then its stderr
// for a process task, or the container's log. follow keeps streaming
// until ctx ends; it needs a runtime that streams logs. A task of
// another node is read from that node's agent, over its link to this
// manager (agentlink.Server.TaskLogs).
func (d *Dev) TaskLogs(ctx context.Context, task *api.Task, follow bool, w io.Writer) error {
	docker := task.Spec.Runtime() == api.RuntimeDocker
	if task.NodeID == d.nodeID {
		return d.rts.taskLogs(ctx, task.ID, docker, follow, w)
	}
	if d.agentLink == nil {
		return fmt.Errorf("logs of task %s: it runs on node %s, and this manager serves no agents", task.ID, api.ShortID(task.NodeID))
	}
	return d.agentLink.TaskLogs(ctx, task.NodeID, task.ID, docker, follow, w)
}

// taskLogs writes the output of a task of these runtimes (docker: of the
// docker runtime, else of the process runtime).
func (r nodeRuntimes) taskLogs(ctx context.Context, id string, docker, follow bool, w io.Writer) error {
	var rt runtime.Runtime = r.process
	if docker {
		if r.docker == nil {
			return fmt.Errorf("logs of task %s: the docker runtime is not available on this node", id)
		}
		rt = r.docker
	}
	task := &api.Task{ID: id}
	if ls, ok := rt.(logStreamer); ok {
		return ls.Logs(ctx, task.ID, follow, w)
	}
	lr, ok := rt.(runtime.LogReader)
	if !ok {
		return fmt.Errorf("logs of task %s: the %s runtime keeps no logs", task.ID, rt.Name())
	}
	stdout, stderr, err := lr.LogPaths(task.ID)
	if err != nil {
		return fmt.Errorf("logs of task %s: %w", task.ID, err)
	}
	if follow {
		return followTask(ctx, rt, task.ID, []string{stdout, stderr}, w)
	}
	var paths []string
	for _, p := range []string{stdout, stderr} {
		// The rotated files first, oldest first (process runtime's
		// rotation: stdout.log.2, stdout.log.1, stdout.log).
		paths = append(append(paths, rotatedLogs(p)...), p)
	}
	for _, p := range paths {
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

// followTask copies the task's log files to w as they grow, until the task
// exits (then what it wrote last is copied too) or ctx ends.
func followTask(ctx context.Context, rt runtime.Runtime, id string, paths []string, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_, _ = rt.Wait(ctx, id)
	}()
	sw := &syncWriter{w: w}
	errs := make(chan error, len(paths))
	for _, p := range paths {
		go func(p string) { errs <- followFile(ctx, exited, p, sw) }(p)
	}
	var first error
	for range paths {
		if err := <-errs; err != nil && first == nil && ctx.Err() == nil {
			first = err
			cancel()
		}
	}
	cancel()
	<-exited
	return first
}

// syncWriter serializes writes from several followers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// followFile copies path to w, then waits on inotify for it to grow and
// copies what was added, until done closes or ctx ends.
func followFile(ctx context.Context, done <-chan struct{}, path string, w io.Writer) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("follow %s: %w", path, err)
	}
	// A non-blocking file joins Go's poller, so a deadline wakes a read.
	events := os.NewFile(uintptr(fd), "inotify")
	defer events.Close()
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		return fmt.Errorf("follow %s: %w", path, err)
	}
	stop := context.AfterFunc(ctx, func() { events.SetReadDeadline(time.Now()) })
	defer stop()
	go func() {
		select {
		case <-done:
			events.SetReadDeadline(time.Now())
		case <-ctx.Done():
		}
	}()
	buf := make([]byte, 4096)
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		// Rotated (copied, then truncated): read on from the start.
		if off, err := f.Seek(0, io.SeekCurrent); err == nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < off {
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
				continue
			}
		}
		if _, err := events.Read(buf); err != nil {
			// Stopped: copy what was written last, then end.
			_, _ = io.Copy(w, f)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
	}
}

// rotatedLogs are the rotated files of the log file p, oldest first:
// p.N … p.1.
func rotatedLogs(p string) []string {
	matches, _ := filepath.Glob(p + ".[0-9]*")
	type rotated struct {
		path string
		n    int
	}
	var rs []rotated
	for _, m := range matches {
		if n, err := strconv.Atoi(strings.TrimPrefix(m, p+".")); err == nil && n > 0 {
			rs = append(rs, rotated{m, n})
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].n > rs[j].n })
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.path
	}
	return out
}
