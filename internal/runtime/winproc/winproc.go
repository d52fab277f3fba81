// Package winproc is the process runtime of Windows nodes: each task is a
// host process whose whole tree runs in a job object (internal/runtime/winjob),
// started suspended, put in its job, then resumed; stopping a task
// terminates its job, and when the task's first process ends, what is left
// of its tree is ended too, as on Linux.
//
// It offers less than the Linux process runtime: no networks (no network
// namespaces), no published ports, no other user. A task asking for one
// is rejected with the reason. Configs and secrets are files below the
// task's folder (files.go). The stop signal is a console break
// (CTRL_BREAK_EVENT) to the task's process group, whatever the spec's
// stop signal; the job is terminated after the grace period, or at once
// when the break cannot be sent (stop.go). A task does not outlive the agent: the job kills its tree
// when the agent's handle closes, so after a restart List reports the
// tasks left on disk as ended, for the agent to clean up.
//
// The logic runs over the winjob.Sys seam and is tested on Linux; the
// system calls it makes on Windows have never run on a Windows host.
package winproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/runtime/winjob"
)

// ErrClosed is returned by a Runtime's methods after Close.
var ErrClosed = errors.New("process runtime closed")

// Options configure a Runtime.
type Options struct {
	// Root holds the task folders (output and working directory); made
	// 0700 if missing. Required.
	Root string
	// NodeAddr is the node's address, given to tasks as SHOAL_NODE_ADDR.
	NodeAddr string
	// Sys and Suspend are the job object's system calls and what makes a
	// command start suspended; nil: Windows' (winjob.System,
	// winjob.Suspended), which exist on Windows only.
	Sys     winjob.Sys
	Suspend func(*exec.Cmd)
}

// Runtime runs tasks as process trees in job objects. It is safe for
// concurrent use.
type Runtime struct {
	root     string
	nodeAddr string
	sys      winjob.Sys
	suspend  func(*exec.Cmd)

	mu    sync.Mutex
	tasks map[string]*task
	// starting are the IDs whose Start is under way: their folders are
	// not left over.
	starting map[string]bool
	closed   bool
}

// task is a task this Runtime started.
type task struct {
	dir     string
	pid     int
	started time.Time
	tree    *winjob.Tree
	done    chan struct{} // closed once exit is set
	exit    runtime.ExitStatus
	// Guarded by Runtime.mu: stopped says Stop (or Close) ended the task,
	// terminated why its job was terminated ("" if it exited itself).
	stopped    bool
	terminated string
}

var (
	_ runtime.Runtime   = (*Runtime)(nil)
	_ runtime.LogReader = (*Runtime)(nil)
)

// Files of a task's folder.
const (
	stdoutFile = "stdout.log"
	stderrFile = "stderr.log"
	workDir    = "work"
)

// Open returns a Runtime keeping its task folders under opts.Root.
func Open(opts Options) (*Runtime, error) {
	if opts.Root == "" {
		return nil, errors.New("process runtime: no root folder")
	}
	sys, suspend := opts.Sys, opts.Suspend
	if sys == nil || suspend == nil {
		var err error
		if sys, suspend, err = systemJobs(); err != nil {
			return nil, fmt.Errorf("process runtime: %w", err)
		}
	}
	if err := os.MkdirAll(opts.Root, 0o700); err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	return &Runtime{root: opts.Root, nodeAddr: opts.NodeAddr, sys: sys, suspend: suspend, tasks: make(map[string]*task), starting: make(map[string]bool)}, nil
}

// Name is "process", as the Linux runtime's: services choose the kind of
// runtime, the node decides how.
func (r *Runtime) Name() string { return "process" }

// checkSpec refuses what this runtime cannot do, saying why.
func checkSpec(spec runtime.TaskSpec) error {
	id := spec.TaskID
	switch {
	case id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, `/\:`+"\x00"):
		return fmt.Errorf("invalid task ID %q", id)
	case len(spec.Container.Command) == 0:
		return errors.New("no program to run")
	case spec.Sandbox != nil || len(spec.Networks) > 0:
		return errors.New("networks are not supported on Windows nodes")
	case len(spec.Ports) > 0:
		return errors.New("published ports of process tasks are not supported on Windows nodes yet")
	case spec.Container.User != "":
		return errors.New("running a task as another user is not supported on Windows nodes")
	}
	return nil
}

// Start runs the task's program in a new job object.
func (r *Runtime) Start(ctx context.Context, spec runtime.TaskSpec) (runtime.Handle, error) {
	id := spec.TaskID
	if err := checkSpec(spec); err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w: %w", id, runtime.ErrRejected, err)
	}
	if err := ctx.Err(); err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	dir := filepath.Join(r.root, id)
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, ErrClosed)
	case r.tasks[id] != nil || r.starting[id]:
		r.mu.Unlock()
		return runtime.Handle{}, fmt.Errorf("start task %s: task already exists", id)
	}
	// A folder left over from before a restart must be removed first.
	err := os.Mkdir(dir, 0o700)
	if err == nil {
		r.starting[id] = true
	}
	r.mu.Unlock()
	if err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	t, err := r.launch(spec, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
	}
	r.mu.Lock()
	delete(r.starting, id)
	if err == nil {
		r.tasks[id] = t
	}
	r.mu.Unlock()
	if err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	return t.handle(id, true), nil
}

// launch starts the task's tree and the goroutine that waits for it.
func (r *Runtime) launch(spec runtime.TaskSpec, dir string) (*task, error) {
	cwd := spec.Container.Dir
	if cwd == "" {
		cwd = filepath.Join(dir, workDir)
		if err := os.Mkdir(cwd, 0o700); err != nil {
			return nil, err
		}
	}
	files, err := writeFiles(dir, spec.Files)
	if err != nil {
		return nil, err
	}
	prog := spec.Container.Command[0]
	if strings.ContainsAny(prog, `/\`) && !filepath.IsAbs(prog) {
		prog = filepath.Join(cwd, prog) // relative to the task's folder, not the agent's
	}
	prog, err = exec.LookPath(prog)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, err)
	}
	var logs [2]*os.File // stdout, stderr
	for i, name := range []string{stdoutFile, stderrFile} {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		logs[i] = f
	}
	args := append(append([]string{}, spec.Container.Command[1:]...), spec.Container.Args...)
	cmd := exec.Command(prog, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = cwd, logs[0], logs[1]
	cmd.Env = taskEnv(spec, r.nodeAddr, files)
	r.suspend(cmd)
	tree, err := winjob.Start(r.sys, func() (int, error) {
		if err := cmd.Start(); err != nil {
			return 0, err
		}
		return cmd.Process.Pid, nil
	})
	if err != nil {
		if cmd.Process != nil {
			_ = cmd.Wait() // the process was killed: reap it
		}
		return nil, err
	}
	t := &task{dir: dir, pid: tree.PID(), started: time.Now(), tree: tree, done: make(chan struct{})}
	go r.watch(t, cmd)
	return t, nil
}

// watch waits for the task's first process, then ends the rest of its tree.
func (r *Runtime) watch(t *task, cmd *exec.Cmd) {
	err := cmd.Wait()
	stopErr := t.tree.Stop()
	r.mu.Lock()
	stopped, terminated := t.stopped, t.terminated
	r.mu.Unlock()
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	msg := fmt.Sprintf("exited with code %d", code)
	switch {
	case stopped && terminated != "":
		msg = "stopped: its job object terminated " + terminated
	case stopped:
		msg = fmt.Sprintf("stopped: exited with code %d after its console break", code)
	case code == -1:
		msg = fmt.Sprintf("exit unknown: %v", errors.Join(err, stopErr))
	}
	if err := releaseFiles(t.dir); err != nil {
		msg += "; " + err.Error()
	}
	t.exit = runtime.ExitStatus{ExitCode: code, Message: msg, ExitedAt: time.Now()}
	close(t.done)
}

func (t *task) handle(id string, running bool) runtime.Handle {
	return runtime.Handle{TaskID: id, RuntimeID: "pid " + strconv.Itoa(t.pid), Running: running, StartedAt: t.started}
}

// lookup returns the task started by this Runtime, or nil.
func (r *Runtime) lookup(id string) (*task, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	return r.tasks[id], nil
}

// leftOver reports whether id is a folder of a task this Runtime did not
// start: one of before the agent restarted, whose tree ended with it.
func (r *Runtime) leftOver(id string) bool {
	r.mu.Lock()
	starting := r.starting[id]
	r.mu.Unlock()
	if starting || strings.ContainsAny(id, `/\:`) || strings.HasPrefix(id, ".") || id == "" {
		return false
	}
	fi, err := os.Stat(filepath.Join(r.root, id))
	return err == nil && fi.IsDir()
}

// endedWithAgent is the exit of a task left over from before a restart.
var endedWithAgent = runtime.ExitStatus{ExitCode: -1, Message: "ended with the agent: its job object closed (exit code unknown)"}

// Wait blocks until the task exits or ctx ends.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	t, err := r.lookup(id)
	switch {
	case err != nil:
		return runtime.ExitStatus{}, err
	case t == nil && r.leftOver(id):
		return endedWithAgent, nil
	case t == nil:
		return runtime.ExitStatus{}, fmt.Errorf("task %s: %w", id, runtime.ErrUnknownTask)
	}
	select {
	case <-t.done:
		return t.exit, nil
	case <-ctx.Done():
		return runtime.ExitStatus{}, ctx.Err()
	}
}

// Remove deletes the folder of a stopped task.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	t, err := r.lookup(id)
	switch {
	case err != nil:
		return err
	case t == nil && !r.leftOver(id):
		return fmt.Errorf("task %s: %w", id, runtime.ErrUnknownTask)
	case t != nil:
		select {
		case <-t.done:
		default:
			return fmt.Errorf("remove task %s: still running", id)
		}
	}
	if err := os.RemoveAll(filepath.Join(r.root, id)); err != nil {
		return fmt.Errorf("remove task %s: %w", id, err)
	}
	r.mu.Lock()
	delete(r.tasks, id)
	r.mu.Unlock()
	return nil
}

// List returns the tasks this Runtime started and the folders of those
// of before a restart, which have ended.
func (r *Runtime) List(ctx context.Context) ([]runtime.Handle, error) {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	var out []runtime.Handle
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || strings.HasPrefix(id, ".") {
			continue
		}
		t := r.tasks[id]
		if t == nil {
			out = append(out, runtime.Handle{TaskID: id})
			continue
		}
		running := true
		select {
		case <-t.done:
			running = false
		default:
		}
		out = append(out, t.handle(id, running))
	}
	return out, nil
}

// LogPaths returns the files of the task's output.
func (r *Runtime) LogPaths(id string) (stdout, stderr string, err error) {
	if t, err := r.lookup(id); err != nil {
		return "", "", err
	} else if t == nil && !r.leftOver(id) {
		return "", "", fmt.Errorf("task %s: %w", id, runtime.ErrUnknownTask)
	}
	dir := filepath.Join(r.root, id)
	return filepath.Join(dir, stdoutFile), filepath.Join(dir, stderrFile), nil
}

// Close ends every task's tree, as the agent's exit would, and waits for
// their watchers.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	tasks := make([]*task, 0, len(r.tasks))
	for _, t := range r.tasks {
		t.stopped = true
		if t.terminated == "" {
			t.terminated = "as the runtime closed"
		}
		tasks = append(tasks, t)
	}
	r.mu.Unlock()
	var errs []error
	for _, t := range tasks {
		errs = append(errs, t.tree.Stop())
		<-t.done
	}
	return errors.Join(errs...)
}

// taskEnv is the task's environment: what Windows programs need of the
// agent's, the spec's variables, then the task's identity, node address
// and files folder (if any), which the spec cannot override (the last
// duplicate wins).
func taskEnv(spec runtime.TaskSpec, nodeAddr, files string) []string {
	var env []string
	for _, k := range []string{"PATH", "PATHEXT", "SystemRoot", "SystemDrive", "windir", "ComSpec", "TEMP", "TMP", "ProgramData", "ProgramFiles", "USERPROFILE", "HOME"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, spec.Container.Env...)
	env = append(env, runtime.IdentityEnv(spec, nodeAddr)...)
	if files != "" {
		env = append(env, filesEnv+"="+files)
	}
	return env
}
