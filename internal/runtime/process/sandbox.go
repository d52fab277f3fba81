package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Sandboxed process tasks.
//
// A task whose TaskSpec has a Sandbox (a task on overlay networks) runs in
// a network namespace of its own, which the agent plumbs after Start, and
// in a mount namespace of its own whose /etc/resolv.conf is the task's
// (nameserver 127.0.0.11, the agent's resolver). Go cannot run code
// between fork and exec, and a multithreaded process cannot enter a mount
// namespace, so the runtime starts the agent's own binary again
// (/proc/self/exe) as a small launcher: argv[0] launcherName, argv[1] its
// settings. The kernel gives it the new namespaces (Cloneflags); it makes
// its mounts slaves of the host's, so nothing it mounts reaches the host
// (while the host's later mounts still reach the task, as for any host
// process), binds the task's resolv.conf, brings lo up, drops to the task's
// user and execs the task's program. The PID the runtime tracks is
// therefore the task's own. Any binary that links this package is such a
// launcher: the check is in init, before main.
//
// The launcher reports a failure before the exec on a pipe (fd 3) that the
// exec closes, so Start returns only once the program runs, or with the
// reason it could not.

// launcherName is argv[0] of the launcher.
const launcherName = "shoal-sandbox"

// resolvConfFile in a sandboxed task's folder is its /etc/resolv.conf.
const resolvConfFile = "resolv.conf"

// Launcher file descriptors.
const (
	launcherErrFD = 3 // failures before the exec
	launcherNSFD  = 4 // the network namespace to join (Join)
)

// maxLauncherErr bounds what the runtime reads of a launcher's failure.
const maxLauncherErr = 4096

// launch is what the launcher does, its argv[1] as JSON.
type launch struct {
	// ResolvConf is bound over /etc/resolv.conf, read-only.
	ResolvConf string
	// Join enters the network namespace open as fd 4 (Exec in a running
	// task) instead of setting up the new one the kernel made.
	Join bool
	// Dir is the working directory, entered as the task's user.
	Dir string
	// UID, GID and Groups are the task's user when SetUser.
	SetUser bool
	UID     uint32
	GID     uint32
	Groups  []uint32
	// Path and Argv are the program to exec.
	Path string
	Argv []string
}

func init() {
	if len(os.Args) == 2 && os.Args[0] == launcherName {
		// setns changes the calling thread only: the thread that enters
		// the namespace must be the one that execs.
		goruntime.LockOSThread()
		err := runLauncher(os.Args[1])
		_, _ = io.WriteString(os.NewFile(launcherErrFD, "launcher-err"), err.Error())
		os.Exit(127)
	}
}

// runLauncher sets the task's namespaces up and execs its program; it
// returns only on failure.
func runLauncher(arg string) error {
	var l launch
	if err := json.Unmarshal([]byte(arg), &l); err != nil {
		return fmt.Errorf("sandbox settings: %w", err)
	}
	// No descriptor but the standard three reaches the task: not ours,
	// nor any the agent holds without close-on-exec (inherited from what
	// started it), which Go's exec passes on.
	if err := closeOnExecFrom(launcherErrFD); err != nil {
		return fmt.Errorf("close the launcher's descriptors at the exec: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make the task's mounts its own: %w", err)
	}
	if err := unix.Mount(l.ResolvConf, "/etc/resolv.conf", "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind the task's resolv.conf over /etc/resolv.conf: %w", err)
	}
	if err := unix.Mount("", "/etc/resolv.conf", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("make the task's resolv.conf read-only: %w", err)
	}
	if l.Join {
		if err := unix.Setns(launcherNSFD, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("enter the task's network namespace: %w", err)
		}
	} else if err := setupNetNS(); err != nil {
		return err
	}
	if l.SetUser {
		if err := syscall.Setgroups(intIDs(l.Groups)); err != nil {
			return fmt.Errorf("set groups: %w", err)
		}
		if err := syscall.Setgid(int(l.GID)); err != nil {
			return fmt.Errorf("set group %d: %w", l.GID, err)
		}
		if err := syscall.Setuid(int(l.UID)); err != nil {
			return fmt.Errorf("set user %d: %w", l.UID, err)
		}
	}
	if err := os.Chdir(l.Dir); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	err := syscall.Exec(l.Path, l.Argv, os.Environ())
	return fmt.Errorf("%s: %w", execFailed, err)
}

// closeOnExecFrom marks every descriptor from first on close-on-exec.
func closeOnExecFrom(first int) error {
	if err := unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	// Before Linux 5.11: one by one.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// execFailed starts the launcher's report of an exec that failed: the
// program cannot run, so the task is rejected.
const execFailed = "exec"

// setupNetNS readies the new network namespace: lo up (the resolver
// listens on 127.0.0.11 there), and every port bindable by any user, as
// Docker sets it in a container, so that a task run as a user can listen
// on its target port 80 in its own namespace.
func setupNetNS() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", []byte("0"), 0); err != nil {
		return fmt.Errorf("open low ports to the task's user: %w", err)
	}
	return nil
}

func intIDs(ids []uint32) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}

// resolvConf is the content of a task's resolv.conf: the user's own
// nameservers, search domains and options, else the sandbox's.
func resolvConf(sb *runtime.Sandbox, c *api.DNSConfig) string {
	var nameservers []string
	for _, ns := range sb.DNS.Nameservers {
		nameservers = append(nameservers, ns.String())
	}
	dns := struct{ Nameservers, Search, Options []string }{nameservers, sb.DNS.Search, sb.DNS.Options}
	if c != nil {
		if len(c.Nameservers) > 0 {
			dns.Nameservers = c.Nameservers
		}
		if len(c.Search) > 0 {
			dns.Search = c.Search
		}
		if len(c.Options) > 0 {
			dns.Options = c.Options
		}
	}
	var b strings.Builder
	for _, ns := range dns.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(dns.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(dns.Search, " "))
	}
	if len(dns.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(dns.Options, " "))
	}
	return b.String()
}

// launcherCmd returns the command that starts l through the launcher,
// with the pipe on which it reports a failure; netns, when set, is the
// namespace it joins. The caller closes the pipe's write end once the
// command started (startLauncher).
func launcherCmd(l launch, cloneflags uintptr, netns *os.File) (*exec.Cmd, *os.File, *os.File, error) {
	arg, err := json.Marshal(l)
	if err != nil {
		return nil, nil, nil, err
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{launcherName, string(arg)},
		ExtraFiles:  []*os.File{wr},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Cloneflags: cloneflags},
	}
	if netns != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, netns)
	}
	return cmd, rd, wr, nil
}

// launcherTimeout bounds the launcher's setup, from its start to its exec.
const launcherTimeout = 30 * time.Second

// startLauncher starts cmd and waits until the launcher has exec'd the
// task's program or failed; on failure it reaps the launcher and returns
// its reason, wrapping runtime.ErrRejected when the program could not be
// executed.
func startLauncher(cmd *exec.Cmd, rd, wr *os.File) error {
	defer rd.Close()
	err := cmd.Start()
	wr.Close()
	if err != nil {
		return fmt.Errorf("start the sandbox launcher: %w", err)
	}
	// The launcher only sets up namespaces and mounts before its exec: one
	// stuck there (a hung mount) must not hold the agent's task start.
	if derr := rd.SetReadDeadline(time.Now().Add(launcherTimeout)); derr != nil {
		slog.Debug("sandbox launcher pipe takes no deadline", "err", derr)
	}
	msg, err := io.ReadAll(io.LimitReader(rd, maxLauncherErr))
	if err == nil && len(msg) == 0 {
		return nil // exec closed the pipe
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err != nil {
		return fmt.Errorf("sandbox launcher: %w", err)
	}
	if strings.HasPrefix(string(msg), execFailed+": ") {
		return fmt.Errorf("%w: %s", runtime.ErrRejected, msg)
	}
	return fmt.Errorf("sandbox: %s", msg)
}

// errNotSandboxed is NetNS's answer for a task on the host's network.
var errNotSandboxed = errors.New("it runs on the host's network")

// NetNS returns the path of a sandboxed task's network namespace, for
// the agent to plumb: /proc/PID/ns/net of its process, which is the
// task's program itself.
func (r *Runtime) NetNS(ctx context.Context, id string) (string, error) {
	t, err := r.lookup(id)
	if err != nil {
		return "", fmt.Errorf("network namespace of task %s: %w", id, err)
	}
	if !t.sandboxed {
		return "", fmt.Errorf("network namespace of task %s: %w", id, errNotSandboxed)
	}
	// Not t.exited(): an adopted task's process may have ended, and its
	// PID be another's, before its watcher closes done.
	if !t.holdsPID() {
		return "", fmt.Errorf("network namespace of task %s: task is not running", id)
	}
	return "/proc/" + strconv.Itoa(t.pid) + "/ns/net", nil
}

var _ runtime.NetNamespacer = (*Runtime)(nil)
