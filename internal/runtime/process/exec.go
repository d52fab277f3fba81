package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/internal/runtime"
)

// maxExecOutput bounds the output Exec keeps, as Docker keeps 4 KiB of a
// health check's output.
const maxExecOutput = 4096

// Exec runs argv in the task's context (its environment, working folder
// and user) and returns its exit code and the start of its output. The
// agent runs health checks of process tasks with it. When ctx ends first,
// the command's process group is killed and ctx's error returned.
func (r *Runtime) Exec(ctx context.Context, id string, argv []string) (int, []byte, error) {
	if len(argv) == 0 {
		return -1, nil, fmt.Errorf("exec in task %s: no command", id)
	}
	t, err := r.lookup(id)
	if err != nil {
		return -1, nil, fmt.Errorf("exec in task %s: %w", id, err)
	}
	if t.exited() {
		return -1, nil, fmt.Errorf("exec in task %s: task is not running", id)
	}
	cred, _, err := credential(t.user, r.euid)
	if err != nil {
		return -1, nil, fmt.Errorf("exec in task %s: %w", id, err)
	}
	path, err := resolveProgram(argv[0], t.cwd)
	if err != nil {
		return -1, nil, fmt.Errorf("exec in task %s: %w", id, err)
	}
	out := &limitedBuffer{max: maxExecOutput}
	var cmd *exec.Cmd
	if t.sandboxed {
		if cmd, err = r.startInSandbox(t, cred, path, argv, out); err != nil {
			return -1, nil, fmt.Errorf("exec in task %s: %w", id, err)
		}
	} else {
		cmd = exec.Command(path, argv[1:]...)
		cmd.Args[0] = argv[0]
		cmd.Env, cmd.Dir = t.env, t.cwd
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
		if err := cmd.Start(); err != nil {
			return -1, nil, fmt.Errorf("exec in task %s: %w", id, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return -1, out.Bytes(), ctx.Err()
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.Bytes(), nil
	case errors.As(err, &ee):
		return ee.ExitCode(), out.Bytes(), nil
	}
	return -1, out.Bytes(), fmt.Errorf("exec in task %s: %w", id, err)
}

// limitedBuffer keeps the first max bytes written to it. It holds its
// buffer in a field, not embedded, so io.Copy cannot bypass Write through
// bytes.Buffer's ReadFrom.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

// Bytes returns what was kept.
func (b *limitedBuffer) Bytes() []byte { return b.buf.Bytes() }

var _ runtime.Execer = (*Runtime)(nil)

// startInSandbox starts argv in a sandboxed task's namespaces: its network
// namespace, entered through a descriptor opened while the task runs (so
// a reused PID cannot lead elsewhere), and a mount namespace like the
// task's, with its resolv.conf.
func (r *Runtime) startInSandbox(t *task, cred *syscall.Credential, path string, argv []string, out io.Writer) (*exec.Cmd, error) {
	ns, err := os.Open("/proc/" + strconv.Itoa(t.pid) + "/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open the task's network namespace: %w", err)
	}
	defer ns.Close()
	if !t.holdsPID() {
		return nil, errors.New("task is not running")
	}
	l := launch{ResolvConf: filepath.Join(t.dir, resolvConfFile), Join: true, Dir: t.cwd, Path: path, Argv: argv}
	if cred != nil {
		l.SetUser, l.UID, l.GID, l.Groups = true, cred.Uid, cred.Gid, cred.Groups
	}
	cmd, rd, wr, err := launcherCmd(l, unix.CLONE_NEWNS, ns)
	if err != nil {
		return nil, err
	}
	cmd.Env, cmd.Stdout, cmd.Stderr = t.env, out, out
	if err := startLauncher(cmd, rd, wr); err != nil {
		return nil, err
	}
	return cmd, nil
}
