package process

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/internal/runtime"
)

// load reads a task an earlier agent left under the root. A task whose
// process still runs is adopted: watched through a pidfd until it exits. One
// whose process is gone is returned as exited, with its recorded exit status
// or, if none was recorded, an unknown one (then recorded). r.mu must be held.
func (r *Runtime) load(id string) (*task, error) {
	dir := r.taskDir(id)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, runtime.ErrUnknownTask
	}
	t := &task{id: id, dir: dir, pidfd: -1, stopSignal: syscall.SIGTERM}
	var st taskState
	if err := readJSON(filepath.Join(dir, taskFile), &st); err != nil {
		// A start that never completed, or a damaged folder. An agent
		// killed between starting the process and recording it left a
		// process nothing else would ever stop.
		killUnrecorded(id)
		return finishedTask(t, runtime.ExitStatus{
			ExitCode: -1,
			Message:  fmt.Sprintf("task state unreadable: %v", err),
			ExitedAt: time.Now(),
		}), nil
	}
	t.pid = st.PID
	t.endpoints = st.Endpoints
	t.env, t.cwd, t.user = st.Env, st.Dir, st.User
	t.startedAt = st.StartedAt
	t.sandboxed = st.Sandboxed
	if st.StopSignal > 0 {
		t.stopSignal = syscall.Signal(st.StopSignal)
	}
	var ex exitState
	if err := readJSON(filepath.Join(dir, exitFile), &ex); err == nil {
		r.releaseFiles(dir) // if the agent that saw it exit did not
		return finishedTask(t, ex.status()), nil
	}
	pidfd, err := openIfAlive(st)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	if pidfd < 0 {
		status := unknownExit(time.Now())
		_ = writeJSON(filepath.Join(dir, exitFile), exitStateOf(status))
		r.releaseFiles(dir)
		return finishedTask(t, status), nil
	}
	t.pidfd = pidfd
	t.done = make(chan struct{})
	if !t.sandboxed {
		t.ports = endpointKeys(t.endpoints)
	}
	for _, f := range st.Forwards {
		t.ports = append(t.ports, portKey{proto: f.Proto, port: f.Port})
	}
	r.holdPorts(id, t.ports)
	if addr, err := netip.ParseAddr(st.SandboxAddr); err == nil && len(st.Forwards) > 0 {
		// A port another program took meanwhile stays unforwarded (the
		// forwarder logs it); the task's other ports are forwarded still.
		t.fwd = forwardPorts(id, addr, st.Forwards)
		t.endpoints = forwardedEndpoints(t.endpoints, t.fwd)
	}
	r.watchers.Add(1)
	go r.watch(t)
	return t, nil
}

// openIfAlive returns a pidfd for the task's process if it still runs, or -1
// if it is gone. A process is the task's only if its start time (and boot) are
// the recorded ones: a PID may have been reused. The pidfd is opened before
// the check, so that it refers to the checked process.
func openIfAlive(st taskState) (int, error) {
	if st.PID <= 0 || st.StartTime == 0 {
		return -1, nil
	}
	if st.BootID != "" && bootID() != "" && st.BootID != bootID() {
		return -1, nil
	}
	fd, err := unix.PidfdOpen(st.PID, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, nil
		}
		return -1, fmt.Errorf("pidfd_open %d: %w", st.PID, err)
	}
	start, state, err := procStat(st.PID)
	if err != nil || start != st.StartTime || state == 'Z' || state == 'X' {
		_ = unix.Close(fd)
		return -1, nil
	}
	return fd, nil
}

// watch waits for an adopted process to exit, or for Close.
func (r *Runtime) watch(t *task) {
	defer r.watchers.Done()
	fds := []unix.PollFd{
		{Fd: int32(t.pidfd), Events: unix.POLLIN},
		{Fd: int32(r.closeFD), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || fds[0].Revents == 0 {
			// Closed (or cannot poll): stop watching; the task is left as
			// it is.
			t.mu.Lock()
			_ = unix.Close(t.pidfd)
			t.pidfd = -1
			t.mu.Unlock()
			return
		}
		break
	}
	t.mu.Lock()
	t.exiting = true
	_ = unix.Close(t.pidfd)
	t.pidfd = -1
	t.mu.Unlock()
	status := unknownExit(time.Now())
	_ = writeJSON(filepath.Join(t.dir, exitFile), exitStateOf(status))
	r.finish(t, status)
}

// killUnrecorded kills the processes of task id's start that never
// completed: the agent died after starting the process and before
// recording its PID, so only its environment names it (SHOAL_TASK_ID,
// which taskEnv gives every task process and its children inherit; a
// program that replaces its whole environment escapes this). Task IDs
// are unique, so no other task's process matches.
func killUnrecorded(id string) {
	want := []byte(taskIDEnv + "=" + id)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if slices.ContainsFunc(bytes.Split(env, []byte{0}), func(kv []byte) bool { return bytes.Equal(kv, want) }) {
			_ = unix.Kill(pid, syscall.SIGKILL)
		}
	}
}
