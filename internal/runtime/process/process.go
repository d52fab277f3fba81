// Package process is a runtime.Runtime that runs each task as a host process.
//
// Every task gets a folder under the runtime's root, root/<taskID>/, holding
// its state (task.json, written before Start returns, and exit.json, written
// when it ends), its output (stdout.log and stderr.log, opened by the runtime
// and inherited by the process, so output is kept even when the agent dies),
// its default working directory (work/), and its configs and secrets
// (files/, with the secrets themselves on tmpfs: see files.go).
//
// A task on overlay networks (its TaskSpec has a Sandbox) runs in network
// and mount namespaces of its own, which a launcher (this same binary,
// re-executed) sets up before it execs the task's program: see sandbox.go
// and sandboxports.go. Other tasks run on the host's network.
//
// A task runs in its own process group: Stop signals the whole group, and
// when the task's main process ends, what is left of its group is killed, as
// a container's processes end with the container.
//
// Processes outlive the agent. A Runtime made over a root that already holds
// tasks (after an agent restart) adopts those whose process still runs: it
// checks the recorded process start time so that a reused PID is not taken
// for the task, watches them with a pidfd, and can stop them. The exit code
// of an adopted process is not known (it is not the agent's child).
package process

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/privdir"
	"github.com/shoalproject/shoal/internal/runtime"
)

// ErrClosed is returned by a Runtime's methods after Close.
var ErrClosed = errors.New("process runtime closed")

// Runtime runs tasks as host processes. It is safe for concurrent use.
type Runtime struct {
	root     string
	nodeAddr string
	// euid is the agent's effective user ID, which decides whether tasks
	// may run as another user.
	euid int

	// closeFD is an eventfd that wakes the pidfd watchers on Close.
	closeFD   int
	closed    chan struct{}
	closeOnce sync.Once
	watchers  sync.WaitGroup

	mu sync.Mutex
	// tasks are the tasks this Runtime started or found on disk.
	tasks map[string]*task
	// starting are the IDs whose Start is under way.
	starting map[string]bool
	// ports are the host ports held by the running tasks, by task ID.
	ports map[portKey]string

	// secretsPath is the secrets root (see secrets.go); secretsRoot is
	// it open, nil when secretsErr says why no secret can be written.
	secretsPath string
	secretsRoot *privdir.Dir
	secretsErr  error
	secretsMu   sync.Mutex
	// nodeDirs are the nodes' open secrets folders, by node ID, and
	// secretsClosed is set by Close. Guarded by secretsMu.
	nodeDirs      map[string]*privdir.Dir
	secretsClosed bool

	// logs caps each task's output files (rotate.go).
	logs logCaps
}

// Options configure a Runtime.
type Options struct {
	// Root holds the task folders; made 0700 if missing. Required.
	Root string
	// NodeAddr is an IP address of the node: host ports are allocated on
	// it and endpoints report it. Required.
	NodeAddr string
	// SecretsRoot is where the secrets of tasks are written, in a folder
	// per node; it must be on tmpfs. DefaultSecretsRoot if empty.
	SecretsRoot string
	// NodeID, when set, is the node whose secrets folder Open checks at
	// once (a task's own TaskSpec.NodeID names the folder it uses).
	NodeID string
	// LogMaxSize and LogFiles cap a task's output: a stream (stdout,
	// stderr) grown past LogMaxSize bytes is rotated, LogFiles files
	// kept (the current one included). Zero: DefaultLogMaxSize,
	// DefaultLogFiles.
	LogMaxSize int64
	LogFiles   int
}

var (
	_ runtime.Runtime   = (*Runtime)(nil)
	_ runtime.LogReader = (*Runtime)(nil)
)

// Files of a task's folder.
const (
	taskFile   = "task.json"
	exitFile   = "exit.json"
	stdoutFile = "stdout.log"
	stderrFile = "stderr.log"
	workDir    = "work"
	// removingPrefix names a task folder being deleted.
	removingPrefix = ".removing-"
)

// New returns a Runtime keeping its tasks under root and allocating host
// ports on nodeAddr, with the secrets under DefaultSecretsRoot: Open with
// those Options.
func New(root string, nodeAddr string) (*Runtime, error) {
	return Open(Options{Root: root, NodeAddr: nodeAddr})
}

// Open returns a Runtime as opts say. Tasks already under the root are
// found by List. It fails when the secrets root or the node's folder in it
// can't be trusted (another user's, open to others, a symbolic link), and
// when the task root or its parent is open to others.
func Open(opts Options) (*Runtime, error) {
	if net.ParseIP(opts.NodeAddr) == nil {
		return nil, fmt.Errorf("process runtime: node address %q is not an IP address", opts.NodeAddr)
	}
	// Go's exec passes on every descriptor without close-on-exec: those
	// the process inherited (from a shell, a supervisor) must not reach
	// tasks run as other users.
	if err := closeOnExecFrom(3); err != nil {
		return nil, fmt.Errorf("process runtime: keep the process's descriptors from tasks: %w", err)
	}
	abs, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("process runtime: root %q: %w", opts.Root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("process runtime: create root: %w", err)
	}
	// Task folders are written by path: check that no one else can change
	// them. The descriptor itself is not needed after.
	rootDir, err := privdir.Open(abs)
	if err != nil {
		var unsafe *privdir.UnsafeError
		if errors.As(err, &unsafe) && unsafe.Path == abs {
			// It holds the state of running tasks: not to be removed.
			unsafe.Fix = fmt.Sprintf("if it is this node's, make it private (chown %d %s; chmod 700 %s), else move it away", os.Geteuid(), abs, abs)
		}
		return nil, fmt.Errorf("process runtime: task folders: %w", err)
	}
	rootDir.Close()
	secretsPath := opts.SecretsRoot
	if secretsPath == "" {
		secretsPath = DefaultSecretsRoot
	}
	if secretsPath, err = filepath.Abs(secretsPath); err != nil {
		return nil, fmt.Errorf("process runtime: secrets root: %w", err)
	}
	r := &Runtime{
		root:        abs,
		nodeAddr:    opts.NodeAddr,
		euid:        os.Geteuid(),
		closed:      make(chan struct{}),
		tasks:       make(map[string]*task),
		starting:    make(map[string]bool),
		ports:       make(map[portKey]string),
		secretsPath: secretsPath,
		nodeDirs:    make(map[string]*privdir.Dir),
	}
	if err := r.openSecrets(opts.NodeID); err != nil {
		r.closeSecrets()
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	removeLeftovers(abs)
	if r.closeFD, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		r.closeSecrets()
		return nil, fmt.Errorf("process runtime: eventfd: %w", err)
	}
	r.startRotation(opts.LogMaxSize, opts.LogFiles)
	return r, nil
}

// removeLeftovers deletes the folders of removals an earlier agent did not
// finish.
func removeLeftovers(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), removingPrefix) {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// Name returns "process".
func (r *Runtime) Name() string { return api.RuntimeProcess }

// Close stops watching adopted processes and releases their pidfds. It
// neither stops nor waits for any task: processes outlive the agent. After
// Close the Runtime's methods return ErrClosed.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		close(r.closed)
		tasks := make([]*task, 0, len(r.tasks))
		for _, t := range r.tasks {
			tasks = append(tasks, t)
		}
		r.mu.Unlock()
		// The tasks run on; what the agent forwards to them stops with it.
		for _, t := range tasks {
			t.stopForwards()
		}
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(r.closeFD, one[:])
		r.watchers.Wait()
		_ = unix.Close(r.closeFD)
		r.closeSecrets()
	})
	return nil
}

// isClosed reports whether Close was called.
func (r *Runtime) isClosed() bool {
	select {
	case <-r.closed:
		return true
	default:
		return false
	}
}

// taskDir returns the folder of a task.
func (r *Runtime) taskDir(id string) string { return filepath.Join(r.root, id) }

// checkTaskID rejects IDs that cannot name a folder under the root.
func checkTaskID(id string) error {
	switch {
	case id == "":
		return errors.New("empty task ID")
	case id == "." || id == ".." || strings.HasPrefix(id, "."):
		return fmt.Errorf("invalid task ID %q", id)
	case strings.ContainsAny(id, "/\x00"):
		return fmt.Errorf("invalid task ID %q", id)
	}
	return nil
}

// lookup returns the task with the given ID, loading it from disk (and
// adopting its process if it still runs) if this Runtime does not know it yet.
func (r *Runtime) lookup(id string) (*task, error) {
	if err := checkTaskID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrUnknownTask, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isClosed() {
		return nil, ErrClosed
	}
	if t := r.tasks[id]; t != nil {
		return t, nil
	}
	if r.starting[id] {
		return nil, fmt.Errorf("%w: task is still starting", runtime.ErrUnknownTask)
	}
	t, err := r.load(id)
	if err != nil {
		return nil, err
	}
	r.tasks[id] = t
	return t, nil
}

// Wait blocks until the task exits or ctx ends, and returns how it ended. For
// a task that already exited it returns the recorded status at once.
func (r *Runtime) Wait(ctx context.Context, id string) (runtime.ExitStatus, error) {
	t, err := r.lookup(id)
	if err != nil {
		return runtime.ExitStatus{}, fmt.Errorf("wait task %s: %w", id, err)
	}
	if t.exited() {
		return t.status, nil
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

// Stop sends the task's stop signal to its process group, waits up to grace
// for the task to exit, then kills the group with SIGKILL. It returns once the
// task has exited; stopping a task that already exited is no error.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	t, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("stop task %s: %w", id, err)
	}
	if t.exited() {
		return nil
	}
	if err := t.signal(t.stopSignal); err != nil {
		return fmt.Errorf("stop task %s: %w", id, err)
	}
	if grace > 0 {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-t.done:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("stop task %s: %w", id, ctx.Err())
		case <-r.closed:
			return fmt.Errorf("stop task %s: %w", id, ErrClosed)
		}
	}
	if err := t.signal(syscall.SIGKILL); err != nil {
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

// Remove deletes the task's folder, logs included. The task must have
// exited.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	t, err := r.lookup(id)
	if err != nil {
		return fmt.Errorf("remove task %s: %w", id, err)
	}
	if !t.exited() {
		return fmt.Errorf("remove task %s: task is still running (pid %d)", id, t.pid)
	}
	r.mu.Lock()
	if r.tasks[id] != t {
		r.mu.Unlock()
		return fmt.Errorf("remove task %s: %w", id, runtime.ErrUnknownTask)
	}
	// Rename first, so that the task is gone at once and a crash half-way
	// through the deletion leaves no half task behind.
	tomb := filepath.Join(r.root, fmt.Sprintf("%s%s-%d", removingPrefix, id, time.Now().UnixNano()))
	if err := os.Rename(t.dir, tomb); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.mu.Unlock()
		return fmt.Errorf("remove task %s: %w", id, err)
	}
	delete(r.tasks, id)
	r.mu.Unlock()
	r.removeSecrets(tomb)
	if err := os.RemoveAll(tomb); err != nil {
		return fmt.Errorf("remove task %s: %w", id, err)
	}
	return nil
}

// List returns every task under the root, running or not: those this
// Runtime started and those an earlier agent left behind, whose processes
// it adopts if they still run.
func (r *Runtime) List(ctx context.Context) ([]runtime.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isClosed() {
		return nil, fmt.Errorf("list tasks: %w", ErrClosed)
	}
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var errs []error
	for _, e := range entries {
		id := e.Name()
		if !e.IsDir() || checkTaskID(id) != nil || r.starting[id] {
			continue
		}
		if r.tasks[id] != nil {
			continue
		}
		t, err := r.load(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.tasks[id] = t
	}
	handles := make([]runtime.Handle, 0, len(r.tasks))
	for _, t := range r.tasks {
		handles = append(handles, t.handle())
	}
	sort.Slice(handles, func(i, j int) bool { return handles[i].TaskID < handles[j].TaskID })
	if len(errs) > 0 {
		return handles, fmt.Errorf("list tasks: %w", errors.Join(errs...))
	}
	return handles, nil
}

// LogPaths returns the files holding the task's stdout and stderr.
func (r *Runtime) LogPaths(id string) (stdout, stderr string, err error) {
	if err := checkTaskID(id); err != nil {
		return "", "", fmt.Errorf("log paths of task %s: %w: %w", id, runtime.ErrUnknownTask, err)
	}
	dir := r.taskDir(id)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("log paths of task %s: %w", id, runtime.ErrUnknownTask)
	}
	return filepath.Join(dir, stdoutFile), filepath.Join(dir, stderrFile), nil
}
