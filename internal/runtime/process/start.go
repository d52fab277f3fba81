package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Start starts the task's program in its own process group, with its output
// going to the task's log files, and returns once the process runs and its
// state is on disk.
//
// The program is looked up on the agent's PATH, or, if it is a relative path,
// from the working directory: Container.Dir (relative to the task's work
// folder if relative itself), by default root/<taskID>/work. The environment
// is PATH and HOME, Container.Env, SHOAL_TASK_ID, SHOAL_TASK_NAME,
// SHOAL_SERVICE_NAME, SHOAL_TASK_SLOT, SHOAL_FILES for a task with configs or
// secrets (see files.go), and for every port a host port
// allocated on the node address, as SHOAL_PORT_<target> (and PORT for the
// first). Running as Container.User needs the agent to run as root; the task
// folders above a default working directory then get the x permission for
// others, so that the user can reach it.
//
// A start that cannot succeed (no or a missing program, an unknown user, a
// bad stop signal) returns an error wrapping runtime.ErrRejected.
func (r *Runtime) Start(ctx context.Context, spec runtime.TaskSpec) (runtime.Handle, error) {
	id := spec.TaskID
	if err := checkTaskID(id); err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w: %w", id, runtime.ErrRejected, err)
	}
	if err := ctx.Err(); err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	if err := r.reserve(id); err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	t, err := r.launch(spec)
	r.mu.Lock()
	delete(r.starting, id)
	if err == nil {
		r.tasks[id] = t
	}
	r.mu.Unlock()
	if err != nil {
		r.removeSecrets(r.taskDir(id))
		_ = os.RemoveAll(r.taskDir(id))
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	h := t.handle()
	h.Running = true
	return h, nil
}

// reserve marks the ID as starting, failing if the task exists.
func (r *Runtime) reserve(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isClosed() {
		return ErrClosed
	}
	if r.tasks[id] != nil || r.starting[id] {
		return errors.New("task already exists")
	}
	if err := os.Mkdir(r.taskDir(id), 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return errors.New("task already exists")
		}
		return err
	}
	r.starting[id] = true
	return nil
}

// launch starts the task's process in the task folder reserve made.
func (r *Runtime) launch(spec runtime.TaskSpec) (*task, error) {
	c := spec.Container
	argv := c.Argv()
	if len(argv) == 0 || argv[0] == "" {
		return nil, fmt.Errorf("%w: no command to run", runtime.ErrRejected)
	}
	stopSignal := syscall.SIGTERM
	if c.StopSignal != "" {
		sig, err := api.ParseSignal(c.StopSignal)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, err)
		}
		stopSignal = sig
	}
	cred, home, err := credential(c.User, r.euid)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, err)
	}

	dir := r.taskDir(spec.TaskID)
	work := filepath.Join(dir, workDir)
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, err
	}
	cwd := work
	if c.Dir != "" {
		cwd = c.Dir
		if !filepath.IsAbs(cwd) {
			cwd = filepath.Join(work, cwd)
		}
		if fi, err := os.Stat(cwd); err != nil {
			return nil, fmt.Errorf("%w: working directory: %w", runtime.ErrRejected, err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("%w: working directory %s is not a directory", runtime.ErrRejected, cwd)
		}
	}
	if cred != nil {
		if err := r.openWorkDir(dir, work, cred, c.Dir == ""); err != nil {
			return nil, err
		}
	}
	path, err := resolveProgram(argv[0], cwd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, err)
	}
	files, err := r.writeFiles(spec, dir, cred)
	if err != nil {
		return nil, err
	}

	// ports are the task's ports as it listens on them; fwd, of a
	// sandboxed task, the node's ports forwarded to it.
	var ports, fwd []hostPort
	if sb := spec.Sandbox; sb != nil {
		var forwarded bool
		if ports, forwarded, err = sandboxPorts(spec.Ports, sb); err != nil {
			return nil, err
		}
		if forwarded {
			if fwd, err = r.allocatePorts(spec.TaskID, spec.Ports); err != nil {
				return nil, err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, resolvConfFile), []byte(resolvConf(sb, c.DNSConfig)), 0o644); err != nil {
			return nil, err
		}
	} else if ports, err = r.allocatePorts(spec.TaskID, spec.Ports); err != nil {
		return nil, err
	}
	t, err := r.spawn(spec, argv, path, cwd, cred, home, files, ports, fwd, stopSignal)
	if err != nil {
		r.mu.Lock()
		r.releasePorts(spec.TaskID, append(keysOf(ports), keysOf(fwd)...))
		r.mu.Unlock()
		return nil, err
	}
	return t, nil
}

// openWorkDir lets the task's user use its work folder: it owns it, and, if
// it is the task's working directory, the folders above it get the search
// (x) permission for others.
func (r *Runtime) openWorkDir(dir, work string, cred *syscall.Credential, isCwd bool) error {
	if err := os.Chown(work, int(cred.Uid), int(cred.Gid)); err != nil {
		return err
	}
	if !isCwd {
		return nil
	}
	for _, d := range []string{r.root, dir} {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o111); err != nil {
			return err
		}
	}
	return nil
}

// spawn starts the process, starts its waiter and records its state.
func (r *Runtime) spawn(spec runtime.TaskSpec, argv []string, path, cwd string, cred *syscall.Credential,
	home, files string, ports, fwd []hostPort, stopSignal syscall.Signal) (*task, error) {
	dir := r.taskDir(spec.TaskID)
	stdout, err := os.OpenFile(filepath.Join(dir, stdoutFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(dir, stderrFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	sb := spec.Sandbox
	nodeAddr := r.nodeAddr
	if sb != nil {
		nodeAddr = ""
	}
	env := taskEnv(spec, nodeAddr, home, files, ports)
	var cmd *exec.Cmd
	startedAt := time.Now()
	if sb != nil {
		l := launch{ResolvConf: filepath.Join(dir, resolvConfFile), Dir: cwd, Path: path, Argv: argv}
		if cred != nil {
			l.SetUser, l.UID, l.GID, l.Groups = true, cred.Uid, cred.Gid, cred.Groups
		}
		var rd, wr *os.File
		if cmd, rd, wr, err = launcherCmd(l, unix.CLONE_NEWNET|unix.CLONE_NEWNS, nil); err != nil {
			return nil, err
		}
		cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
		if err := startLauncher(cmd, rd, wr); err != nil {
			return nil, err
		}
	} else {
		cmd = &exec.Cmd{
			Path:   path,
			Args:   argv,
			Env:    env,
			Dir:    cwd,
			Stdout: stdout,
			Stderr: stderr,
			SysProcAttr: &syscall.SysProcAttr{
				Setpgid:    true,
				Credential: cred,
			},
		}
		if err := cmd.Start(); err != nil {
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENOMEM) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, err)
		}
	}
	t := &task{
		id:         spec.TaskID,
		dir:        dir,
		pid:        cmd.Process.Pid,
		stopSignal: stopSignal,
		startedAt:  startedAt,
		child:      true,
		sandboxed:  sb != nil,
		pidfd:      -1,
		done:       make(chan struct{}),
		env:        env,
		cwd:        cwd,
		user:       spec.Container.User,
	}
	st := taskState{
		TaskID:     spec.TaskID,
		Name:       spec.Name,
		PID:        t.pid,
		BootID:     bootID(),
		StopSignal: int(stopSignal),
		StartedAt:  startedAt,
		Env:        env,
		Dir:        cwd,
		User:       spec.Container.User,
	}
	if sb == nil {
		t.ports = keysOf(ports)
	} else {
		t.ports = keysOf(fwd)
		st.Sandboxed, st.Forwards = true, forwardsOf(fwd)
		if sb.Addr.IsValid() {
			st.SandboxAddr = sb.Addr.String()
		}
	}
	t.endpoints = endpoints(ports, fwd, r.nodeAddr, sb)
	st.Endpoints = t.endpoints
	// The process is ours and not reaped before waitChild runs, so
	// /proc/<pid> is there.
	st.StartTime, _, err = procStat(t.pid)
	go r.waitChild(t, cmd)
	if err == nil {
		if err = writeJSON(filepath.Join(dir, taskFile), st); err != nil {
			err = fmt.Errorf("record task state: %w", err)
		}
	}
	if err == nil && len(fwd) > 0 {
		err = t.forward(startForwards(t.id, sb.Addr, st.Forwards))
	}
	if err != nil {
		_ = t.signal(syscall.SIGKILL)
		<-t.done
		return nil, err
	}
	return t, nil
}

// waitChild waits for a process this Runtime started, records its exit and
// wakes its waiters.
func (r *Runtime) waitChild(t *task, cmd *exec.Cmd) {
	// Wait for the exit without reaping: while the zombie is there its PID
	// and process group ID cannot be reused, so signal may still use them.
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, t.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
	for errors.Is(err, unix.EINTR) {
		err = unix.Waitid(unix.P_PID, t.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
	}
	t.mu.Lock()
	t.exiting = true
	if err == nil {
		// Kill what is left of the task's process group, as a container's
		// processes end with it.
		_ = unix.Kill(-t.pid, syscall.SIGKILL)
	}
	t.mu.Unlock()

	_ = cmd.Wait()
	status := runtime.ExitStatus{ExitCode: -1, Message: "exit status unknown", ExitedAt: time.Now()}
	if ps := cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			status = exitStatus(ws, status.ExitedAt)
		}
	}
	_ = writeJSON(filepath.Join(t.dir, exitFile), exitStateOf(status))
	r.finish(t, status)
}
