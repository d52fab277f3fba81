package daemon

import (
	"bytes"
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

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// logStreamer is implemented by runtimes that stream a task's output (the
// docker runtime).
type logStreamer interface {
	Logs(ctx context.Context, taskID string, opts api.LogOptions, w io.Writer) error
}

// TaskLogs writes the output a task left: its stdout, then its stderr
// for a process task, or the container's log, as opts says (tail, since,
// timestamps; Follow keeps streaming until ctx ends, and needs a runtime
// that streams logs). A task of another node is read from that node's
// agent, over its link to this manager (agentlink.Server.TaskLogs).
func (d *Dev) TaskLogs(ctx context.Context, task *api.Task, opts api.LogOptions, w io.Writer) error {
	docker := task.Spec.Runtime() == api.RuntimeDocker
	if task.NodeID == d.nodeID {
		return d.rts.taskLogs(ctx, task.ID, docker, opts, w)
	}
	if d.agentLink == nil {
		return fmt.Errorf("logs of task %s: it runs on node %s, and this manager serves no agents", task.ID, api.ShortID(task.NodeID))
	}
	return d.agentLink.TaskLogs(ctx, task.NodeID, task.ID, docker, opts, w)
}

// taskLogs writes the output of task id of these runtimes (docker: of
// the docker runtime, else of the process runtime): all of it, or its
// last opts.Tail lines (stdout's, then stderr's, for a process task,
// each with its rotated files first, oldest first).
func (r nodeRuntimes) taskLogs(ctx context.Context, id string, docker bool, opts api.LogOptions, w io.Writer) error {
	var rt runtime.Runtime = r.process
	if docker {
		if r.docker == nil {
			return fmt.Errorf("logs of task %s: the docker runtime is not available on this node", id)
		}
		rt = r.docker
	}
	if ls, ok := rt.(logStreamer); ok {
		return ls.Logs(ctx, id, opts, w)
	}
	lr, ok := rt.(runtime.LogReader)
	if !ok {
		return fmt.Errorf("logs of task %s: the %s runtime keeps no logs", id, rt.Name())
	}
	if opts.NeedTimes() {
		return fmt.Errorf("logs of task %s: the %s runtime keeps no times of a task's output: --timestamps and --since need the docker runtime", id, rt.Name())
	}
	stdout, stderr, err := lr.LogPaths(id)
	if err != nil {
		return fmt.Errorf("logs of task %s: %w", id, err)
	}
	var paths []string
	for _, p := range []string{stdout, stderr} {
		paths = append(append(paths, rotatedLogs(p)...), p)
	}
	offsets, err := tailOffsets(paths, opts.Tail)
	if err != nil {
		return fmt.Errorf("logs of task %s: %w", id, err)
	}
	var live []string
	var liveOffsets []int64
	for i, p := range paths {
		if opts.Follow && (p == stdout || p == stderr) {
			// Followed below; rotated files no longer grow.
			live, liveOffsets = append(live, p), append(liveOffsets, offsets[i])
			continue
		}
		if err := copyFrom(p, offsets[i], w); err != nil {
			return fmt.Errorf("logs of task %s: %w", id, err)
		}
	}
	if opts.Follow {
		return followTask(ctx, rt, id, live, liveOffsets, w)
	}
	return nil
}

// copyFrom copies the file at p from offset to w; a missing file has
// nothing to copy.
func copyFrom(p string, offset int64, w io.Writer) error {
	f, err := openAt(p, offset)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// openAt opens the file at p for reading from offset; a missing file is
// nil, with no error.
func openAt(p string, offset int64) (*os.File, error) {
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// tailOffsets says where to start reading each file for the last n lines
// of them read one after the other (all of them when n < 0).
func tailOffsets(paths []string, n int) ([]int64, error) {
	offsets := make([]int64, len(paths))
	if n < 0 {
		return offsets, nil
	}
	for i := len(paths) - 1; i >= 0; i-- {
		data, err := os.ReadFile(paths[i])
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		offsets[i], n = lastLines(data, n)
		if n == 0 {
			// The earlier files show nothing.
			for j := range i {
				offsets[j] = fileSize(paths[j])
			}
			break
		}
	}
	return offsets, nil
}

// lastLines returns where the last n lines of data start, and how many
// lines short of n data is.
func lastLines(data []byte, n int) (start int64, left int) {
	start = int64(len(data))
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	if len(data) == 0 {
		return 0, n
	}
	for n > 0 {
		j := bytes.LastIndexByte(data[:end], '\n')
		n--
		if j < 0 {
			return 0, n
		}
		start, end = int64(j+1), j
	}
	return start, 0
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// followTask copies the task's log files to w as they grow, until the task
// exits (then what it wrote last is copied too) or ctx ends.
func followTask(ctx context.Context, rt runtime.Runtime, id string, paths []string, offsets []int64, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_, _ = rt.Wait(ctx, id)
	}()
	sw := &syncWriter{w: w}
	errs := make(chan error, len(paths))
	for i, p := range paths {
		go func(p string, off int64) { errs <- followFile(ctx, exited, p, off, sw) }(p, offsets[i])
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
