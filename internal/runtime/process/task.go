package process

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/portmesh"
	"github.com/shoalproject/shoal/internal/runtime"
)

// task is one task this Runtime started or found on disk.
type task struct {
	id         string
	dir        string
	pid        int
	stopSignal syscall.Signal
	endpoints  []api.TaskEndpoint
	startedAt  time.Time
	// child is true for a process this Runtime started (and reaps); false
	// for an adopted one or one found dead.
	child bool
	// ports are the host ports the task holds while it runs.
	ports []portKey
	// sandboxed is set for a task in namespaces of its own: its ports
	// are in its network namespace, not the host's.
	sandboxed bool
	// env, cwd and user are the task's context, for Exec.
	env  []string
	cwd  string
	user string

	mu sync.Mutex
	// exiting is set once the main process has exited: from then on its PID
	// (and process group ID) may name another process and must not be
	// signalled.
	exiting bool
	// pidfd refers to an adopted process; -1 once released.
	pidfd int
	// fwd forwards the node's ports to a sandboxed task while it runs.
	fwd *portmesh.Mesh

	// done is closed when the task has exited; status is set before.
	done   chan struct{}
	status runtime.ExitStatus
}

// errUnwatched is returned when signalling an adopted process whose pidfd
// was released by Close.
var errUnwatched = errors.New("process no longer watched")

// exited reports whether the task has exited.
func (t *task) exited() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// handle describes the task.
func (t *task) handle() runtime.Handle {
	return runtime.Handle{
		TaskID:    t.id,
		RuntimeID: strconv.Itoa(t.pid),
		Running:   !t.exited(),
		Endpoints: append([]api.TaskEndpoint(nil), t.endpoints...),
		StartedAt: t.startedAt,
	}
}

// signal sends sig to the task's process group. It does nothing once the
// main process has exited.
//
// The PID cannot name another process while signalling: a child of ours is
// not reaped before exiting is set (the zombie holds its PID and process
// group ID), and an adopted process is signalled through its pidfd first,
// the group only if that succeeded.
func (t *task) signal(sig syscall.Signal) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exiting {
		return nil
	}
	if !t.child {
		if t.pidfd < 0 {
			return fmt.Errorf("signal %v to pid %d: %w", sig, t.pid, errUnwatched)
		}
		if err := unix.PidfdSendSignal(t.pidfd, sig, nil, 0); err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil
			}
			return fmt.Errorf("signal %v to pid %d: %w", sig, t.pid, err)
		}
	}
	err := unix.Kill(-t.pid, sig)
	if errors.Is(err, unix.ESRCH) {
		// The main process left its group: signal it alone.
		err = unix.Kill(t.pid, sig)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %v to process group %d: %w", sig, t.pid, err)
	}
	return nil
}

// forward keeps the task's port forwarder, unless the task has
// already exited (then it closes it at once).
func (t *task) forward(m *portmesh.Mesh, err error) error {
	if err != nil || m == nil {
		return err
	}
	t.mu.Lock()
	if !t.exiting {
		t.fwd, m = m, nil
	}
	t.mu.Unlock()
	if m != nil {
		m.Close()
	}
	return nil
}

// stopForwards closes the task's port forwarder, if any.
func (t *task) stopForwards() {
	t.mu.Lock()
	m := t.fwd
	t.fwd = nil
	t.mu.Unlock()
	if m != nil {
		m.Close()
	}
}

// holdsPID reports whether the task's PID still names its process, so
// that what was just opened through /proc/PID was the task's: a child of
// ours is not reaped before exiting is set, and an adopted process is
// asked through its pidfd.
func (t *task) holdsPID() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exiting {
		return false
	}
	return t.child || (t.pidfd >= 0 && unix.PidfdSendSignal(t.pidfd, 0, nil, 0) == nil)
}

// finish records how the task ended, wakes its waiters and frees its ports.
func (r *Runtime) finish(t *task, status runtime.ExitStatus) {
	t.stopForwards()
	// Configs and secrets live no longer than the task needs them.
	r.releaseFiles(t.dir)
	t.status = status
	close(t.done)
	r.mu.Lock()
	r.releasePorts(t.id, t.ports)
	r.mu.Unlock()
}

// finishedTask returns a task found on disk that is no longer running.
func finishedTask(t *task, status runtime.ExitStatus) *task {
	t.exiting = true
	t.pidfd = -1
	t.status = status
	t.done = make(chan struct{})
	close(t.done)
	return t
}

// exitStatus turns a wait status into an ExitStatus.
func exitStatus(ws syscall.WaitStatus, at time.Time) runtime.ExitStatus {
	if ws.Signaled() {
		sig := ws.Signal()
		return runtime.ExitStatus{
			ExitCode: 128 + int(sig),
			Message:  fmt.Sprintf("killed by signal %d (%s)", int(sig), sig),
			ExitedAt: at,
		}
	}
	code := ws.ExitStatus()
	return runtime.ExitStatus{
		ExitCode: code,
		Message:  fmt.Sprintf("exited with code %d", code),
		ExitedAt: at,
	}
}

// unknownExit is the status of a process that ended while no agent was its
// parent.
func unknownExit(at time.Time) runtime.ExitStatus {
	return runtime.ExitStatus{
		ExitCode: -1,
		Message:  "exited while the agent was not watching (exit code unknown)",
		ExitedAt: at,
	}
}
