package process

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

func TestNewCreatesRoot(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "a", "root")
	r, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("root mode %v, want 0700", fi.Mode().Perm())
	}
	if r.Name() != "process" {
		t.Errorf("name %q", r.Name())
	}
	if _, err := New(root, "not-an-ip"); err == nil {
		t.Error("New accepted a node address that is not an IP")
	}
}

func TestStartEnvAndPorts(t *testing.T) {
	t.Parallel()
	r, root := newRuntime(t)
	s := shSpec(`echo "port=$PORT a=$SHOAL_PORT_8080 b=$SHOAL_PORT_9090 foo=$FOO id=$SHOAL_TASK_ID name=$SHOAL_TASK_NAME svc=$SHOAL_SERVICE_NAME slot=$SHOAL_TASK_SLOT node=$SHOAL_NODE_ADDR home=$HOME"; echo "cwd=$(pwd)"; echo "path=$PATH"`)
	s.Container.Env = []string{"FOO=bar baz", "SHOAL_TASK_ID=spoofed"}
	s.Ports = []api.PortConfig{{TargetPort: 8080}, {TargetPort: 9090, Protocol: "udp"}}
	h := start(t, r, s)
	if !h.Running || h.TaskID != s.TaskID || h.StartedAt.IsZero() {
		t.Errorf("handle %+v", h)
	}
	pid := pidOf(t, h)
	if len(h.Endpoints) != 2 {
		t.Fatalf("endpoints %+v", h.Endpoints)
	}
	var hostPorts []string
	for i, want := range []struct {
		target uint32
		proto  string
	}{{8080, "tcp"}, {9090, "udp"}} {
		ep := h.Endpoints[i]
		host, port, err := net.SplitHostPort(ep.Addr)
		if err != nil || host != "127.0.0.1" || ep.TargetPort != want.target || ep.Protocol != want.proto {
			t.Errorf("endpoint %d: %+v", i, ep)
		}
		hostPorts = append(hostPorts, port)
	}

	// The state is on disk when Start returns.
	var st taskState
	if err := readJSON(filepath.Join(root, s.TaskID, taskFile), &st); err != nil {
		t.Fatal(err)
	}
	if st.PID != pid || st.TaskID != s.TaskID || st.StartTime == 0 || st.StopSignal != int(syscall.SIGTERM) || len(st.Endpoints) != 2 {
		t.Errorf("task.json %+v", st)
	}

	if got := wait(t, r, s.TaskID); got.ExitCode != 0 || got.Message != "exited with code 0" {
		t.Errorf("exit %+v", got)
	}
	out, _ := readLog(t, r, s.TaskID)
	want := fmt.Sprintf("port=%s a=%s b=%s foo=bar baz id=%s name=%s svc=web slot=2 node=127.0.0.1 home=%s\n",
		hostPorts[0], hostPorts[0], hostPorts[1], s.TaskID, s.Name, os.Getenv("HOME"))
	if !strings.HasPrefix(out, want) {
		t.Errorf("stdout\n%q\nwant prefix\n%q", out, want)
	}
	if !strings.Contains(out, "cwd="+filepath.Join(root, s.TaskID, "work")+"\n") {
		t.Errorf("working directory: %q", out)
	}
	if !strings.Contains(out, "path="+os.Getenv("PATH")+"\n") {
		t.Errorf("PATH: %q", out)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	r, root := newRuntime(t)
	s := shSpec("exit 3")
	start(t, r, s)
	got := wait(t, r, s.TaskID)
	if got.ExitCode != 3 || got.Message != "exited with code 3" || got.ExitedAt.IsZero() {
		t.Errorf("exit %+v", got)
	}
	// Waiting again returns the same.
	if again := wait(t, r, s.TaskID); again != got {
		t.Errorf("second wait %+v, first %+v", again, got)
	}
	hs, err := r.List(testCtx(t))
	if err != nil || len(hs) != 1 || hs[0].Running {
		t.Errorf("list %+v %v", hs, err)
	}
	// The status is recorded: a new Runtime over the root reports it.
	r2, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if rec := wait(t, r2, s.TaskID); rec.ExitCode != 3 || rec.Message != got.Message || !rec.ExitedAt.Equal(got.ExitedAt) {
		t.Errorf("recorded exit %+v, want %+v", rec, got)
	}
}

func TestKilledBySignal(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	s := shSpec("kill -KILL $$")
	start(t, r, s)
	got := wait(t, r, s.TaskID)
	if got.ExitCode != 137 || got.Message != "killed by signal 9 (killed)" {
		t.Errorf("exit %+v", got)
	}
}

func TestStopSignalsGroup(t *testing.T) {
	t.Parallel()
	r, root := newRuntime(t)
	s := shSpec(`trap "exit 0" TERM; sleep 1000 & echo $! > sleep.pid; echo ready; wait`)
	h := start(t, r, s)
	waitForOutput(t, r, s.TaskID, "ready")
	data, err := os.ReadFile(filepath.Join(root, s.TaskID, "work", "sleep.pid"))
	if err != nil {
		t.Fatal(err)
	}
	sleepPID, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if gone(sleepPID) {
		t.Fatal("the task's subprocess does not run")
	}
	if err := r.Stop(testCtx(t), s.TaskID, testTimeout); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, r, s.TaskID); got.ExitCode != 0 {
		t.Errorf("exit %+v, want the TERM trap's exit 0", got)
	}
	waitGone(t, sleepPID)
	if !gone(pidOf(t, h)) {
		t.Error("task process still runs")
	}
	// Stopping again is no error.
	if err := r.Stop(testCtx(t), s.TaskID, 0); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	s := shSpec(`trap "" TERM; echo ready; exec sleep 1000`)
	start(t, r, s)
	waitForOutput(t, r, s.TaskID, "ready")
	if err := r.Stop(testCtx(t), s.TaskID, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, r, s.TaskID); got.ExitCode != 137 || got.Message != "killed by signal 9 (killed)" {
		t.Errorf("exit %+v, want killed by SIGKILL", got)
	}
}

func TestCustomStopSignal(t *testing.T) {
	t.Parallel()
	r, root := newRuntime(t)
	s := shSpec(`trap "exit 7" USR1; echo ready; sleep 1000 & wait`)
	s.Container.StopSignal = "SIGUSR1"
	start(t, r, s)
	var st taskState
	if err := readJSON(filepath.Join(root, s.TaskID, taskFile), &st); err != nil || st.StopSignal != int(syscall.SIGUSR1) {
		t.Errorf("recorded stop signal %d, %v", st.StopSignal, err)
	}
	waitForOutput(t, r, s.TaskID, "ready")
	if err := r.Stop(testCtx(t), s.TaskID, testTimeout); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, r, s.TaskID); got.ExitCode != 7 {
		t.Errorf("exit %+v, want the USR1 trap's exit 7", got)
	}
}

func TestRejected(t *testing.T) {
	t.Parallel()
	r, root := newRuntime(t)
	notExec := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badSignal := spec("sleep", "1")
	badSignal.Container.StopSignal = "SIGNOPE"
	badUser := spec("sleep", "1")
	badUser.Container.User = "no-such-user-shoal"
	badDir := spec("sleep", "1")
	badDir.Container.Dir = "/no/such/dir"
	badPort := spec("sleep", "1")
	badPort.Ports = []api.PortConfig{{TargetPort: 80, Protocol: "sctp"}}
	for _, tc := range []struct {
		name string
		spec runtime.TaskSpec
		msg  string
	}{
		{"missing", spec("/nope"), `exec: "/nope": stat /nope: no such file or directory`},
		{"not on PATH", spec("shoal-no-such-program"), `exec: "shoal-no-such-program": executable file not found in $PATH`},
		{"not executable", spec(notExec), notExec + `": permission denied`},
		{"no command", spec(), "no command"},
		{"bad stop signal", badSignal, "SIGNOPE"},
		{"unknown user", badUser, "no-such-user-shoal"},
		{"missing dir", badDir, "/no/such/dir"},
		{"bad protocol", badPort, "sctp"},
	} {
		_, err := r.Start(testCtx(t), tc.spec)
		if !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want ErrRejected with %q", tc.name, err, tc.msg)
		}
		if err != nil && !strings.Contains(err.Error(), tc.spec.TaskID) {
			t.Errorf("%s: error %v does not name the task", tc.name, err)
		}
		if _, err := os.Stat(filepath.Join(root, tc.spec.TaskID)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: task folder left behind: %v", tc.name, err)
		}
	}
	if hs, err := r.List(testCtx(t)); err != nil || len(hs) != 0 {
		t.Errorf("list after rejected starts: %+v %v", hs, err)
	}
}

func TestDuplicateStart(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	s := spec("sleep", "1000")
	start(t, r, s)
	if _, err := r.Start(testCtx(t), s); err == nil || errors.Is(err, runtime.ErrRejected) {
		t.Errorf("second start: %v, want a plain error", err)
	}
}

func TestRelativeProgramInDir(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho \"in $(pwd) $1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := spec("./run.sh")
	s.Container.Args = []string{"arg1"}
	s.Container.Dir = dir
	start(t, r, s)
	if got := wait(t, r, s.TaskID); got.ExitCode != 0 {
		t.Fatalf("exit %+v", got)
	}
	if out, _ := readLog(t, r, s.TaskID); out != "in "+dir+" arg1\n" {
		t.Errorf("stdout %q", out)
	}
}

func TestLogs(t *testing.T) {
	t.Parallel()
	r, root := newRuntime(t)
	s := shSpec("echo to-out; echo to-err >&2; echo more-out")
	start(t, r, s)
	wait(t, r, s.TaskID)
	stdout, stderr, err := r.LogPaths(s.TaskID)
	if err != nil || stdout != filepath.Join(root, s.TaskID, "stdout.log") || stderr != filepath.Join(root, s.TaskID, "stderr.log") {
		t.Errorf("log paths %q %q %v", stdout, stderr, err)
	}
	out, errOut := readLog(t, r, s.TaskID)
	if out != "to-out\nmore-out\n" || errOut != "to-err\n" {
		t.Errorf("stdout %q stderr %q", out, errOut)
	}
	if _, _, err := r.LogPaths("nosuchtask"); !errors.Is(err, runtime.ErrUnknownTask) {
		t.Errorf("log paths of an unknown task: %v", err)
	}
}

func TestRemove(t *testing.T) {
	t.Parallel()
	r, root := newRuntime(t)
	s := spec("sleep", "1000")
	start(t, r, s)
	err := r.Remove(testCtx(t), s.TaskID)
	if err == nil || !strings.Contains(err.Error(), "running") {
		t.Errorf("remove of a running task: %v", err)
	}
	if err := r.Stop(testCtx(t), s.TaskID, testTimeout); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, r, s.TaskID); got.ExitCode != 128+int(syscall.SIGTERM) {
		t.Errorf("exit %+v", got)
	}
	if err := r.Remove(testCtx(t), s.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, s.TaskID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task folder still there: %v", err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 0 {
		t.Errorf("root not empty: %v", entries)
	}
	if _, err := r.Wait(testCtx(t), s.TaskID); !errors.Is(err, runtime.ErrUnknownTask) {
		t.Errorf("wait after remove: %v", err)
	}
	if err := r.Remove(testCtx(t), s.TaskID); !errors.Is(err, runtime.ErrUnknownTask) {
		t.Errorf("second remove: %v", err)
	}
}

func TestUnknownTask(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	for _, id := range []string{"nosuchtask", "", "..", "a/b"} {
		if _, err := r.Wait(testCtx(t), id); !errors.Is(err, runtime.ErrUnknownTask) {
			t.Errorf("wait %q: %v", id, err)
		}
		if err := r.Stop(testCtx(t), id, 0); !errors.Is(err, runtime.ErrUnknownTask) {
			t.Errorf("stop %q: %v", id, err)
		}
		if err := r.Remove(testCtx(t), id); !errors.Is(err, runtime.ErrUnknownTask) {
			t.Errorf("remove %q: %v", id, err)
		}
	}
}

func TestConcurrentTasks(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	const n = 16
	specs := make([]runtime.TaskSpec, n)
	handles := make([]runtime.Handle, n)
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range specs {
		specs[i] = spec("sleep", "1000")
		specs[i].Ports = []api.PortConfig{{TargetPort: 80}, {TargetPort: 443}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := r.Start(testCtx(t), specs[i])
			handles[i] = h
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, h := range handles {
		for _, ep := range h.Endpoints {
			if seen[ep.Addr] {
				t.Errorf("host port %s given twice", ep.Addr)
			}
			seen[ep.Addr] = true
		}
	}
	hs, err := r.List(testCtx(t))
	if err != nil || len(hs) != n {
		t.Fatalf("list: %d tasks, %v", len(hs), err)
	}
	for i := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Stop(testCtx(t), specs[i].TaskID, testTimeout); err != nil {
				errs <- err
			}
			if _, err := r.Wait(testCtx(t), specs[i].TaskID); err != nil {
				errs <- err
			}
			if err := r.Remove(testCtx(t), specs[i].TaskID); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if hs, err := r.List(testCtx(t)); err != nil || len(hs) != 0 {
		t.Errorf("list after removal: %+v %v", hs, err)
	}
	r.mu.Lock()
	if len(r.ports) != 0 {
		t.Errorf("ports still held: %v", r.ports)
	}
	r.mu.Unlock()
}

func TestUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	t.Parallel()
	r, root := newRuntime(t)
	// Let other users reach the root (the test's temporary folders are 0700).
	for _, d := range []string{filepath.Dir(filepath.Dir(root)), filepath.Dir(root)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	s := shSpec(`echo "$(id -u):$(id -g):$(id -G)"; pwd; touch file && echo wrote`)
	s.Container.User = "nobody"
	start(t, r, s)
	if got := wait(t, r, s.TaskID); got.ExitCode != 0 {
		_, errOut := readLog(t, r, s.TaskID)
		t.Fatalf("exit %+v, stderr %q", got, errOut)
	}
	out, _ := readLog(t, r, s.TaskID)
	want := "65534:65534:65534\n" + filepath.Join(root, s.TaskID, "work") + "\nwrote\n"
	if out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}

	s = shSpec(`echo "$(id -u):$(id -g)"`)
	s.Container.User = "1234:5678"
	s.Container.Dir = "/"
	start(t, r, s)
	wait(t, r, s.TaskID)
	if out, _ := readLog(t, r, s.TaskID); out != "1234:5678\n" {
		t.Errorf("numeric user: stdout %q", out)
	}
}

func TestUserNeedsRoot(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	r.euid = 4321 // as if the agent did not run as root
	s := spec("sleep", "1")
	s.Container.User = "nobody"
	_, err := r.Start(testCtx(t), s)
	if !errors.Is(err, runtime.ErrRejected) || !errors.Is(err, errNotRoot) {
		t.Errorf("start as another user without root: %v", err)
	}
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	// The command name may hold spaces and parentheses.
	line := "1234 (a) b (c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100\n"
	start, state, err := parseStat([]byte(line))
	if err != nil || start != 987654 || state != 'S' {
		t.Errorf("parseStat: %d %c %v", start, state, err)
	}
	if _, _, err := parseStat([]byte("1234 (x) S 1 2")); err == nil {
		t.Error("parseStat accepted a short line")
	}
	// Our own start time is readable.
	if st, state, err := procStat(os.Getpid()); err != nil || st == 0 || state == 'Z' {
		t.Errorf("procStat(self): %d %c %v", st, state, err)
	}
}

// A host port is chosen free on every address of the host: a port some
// process holds on another address (another node sharing the host on a
// loopback alias) is never handed out, since a task listening on all
// addresses could not take it, or would answer for the other node.
func TestHostPortIsFreeOnEveryAddress(t *testing.T) {
	t.Parallel()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	// Hold a seventh of the ephemeral range on 127.0.0.2, so that 30
	// allocations on the node's address alone would hit one with a
	// chance of about 99%.
	taken := map[string]bool{}
	for i := 0; i < 4000; i++ {
		l, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Skipf("no loopback alias 127.0.0.2: %v", err)
		}
		held = append(held, l)
		_, port, _ := net.SplitHostPort(l.Addr().String())
		taken[port] = true
	}
	r, _ := newRuntime(t)
	for i := 0; i < 30; i++ {
		hps, err := r.allocatePorts(fmt.Sprintf("t%d", i), []api.PortConfig{{TargetPort: 80}})
		if err != nil {
			t.Fatal(err)
		}
		if p := strconv.Itoa(hps[0].key.port); taken[p] {
			t.Fatalf("port %s is held on 127.0.0.2 but was allocated on 127.0.0.1", p)
		}
	}
}

// A port published in host mode is the task's own: it gets exactly the
// published port (PORT, SHOAL_PORT_<target>, its endpoint), not a random
// one; a second task, or another program, holding it makes the start
// rejected, naming the port.
func TestHostModePortIsThePublishedPort(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	free, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	published := free.Addr().(*net.TCPAddr).Port
	free.Close()
	s := shSpec(`echo "port=$PORT a=$SHOAL_PORT_80"; sleep 30`)
	s.Ports = []api.PortConfig{{TargetPort: 80, PublishedPort: uint32(published), PublishMode: api.PublishModeHost}}
	h := start(t, r, s)
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(published)); len(h.Endpoints) != 1 || h.Endpoints[0].Addr != want {
		t.Fatalf("endpoints %+v, want %s", h.Endpoints, want)
	}
	want := fmt.Sprintf("port=%d a=%d\n", published, published)
	deadline := time.Now().Add(5 * time.Second)
	for out, _ := readLog(t, r, s.TaskID); !strings.HasPrefix(out, want); out, _ = readLog(t, r, s.TaskID) {
		if time.Now().After(deadline) {
			t.Fatalf("stdout %q, want %q", out, want)
		}
		time.Sleep(20 * time.Millisecond)
	}

	second := shSpec("sleep 30")
	second.Ports = s.Ports
	_, err = r.Start(testCtx(t), second)
	if !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), fmt.Sprintf("host-mode port %d/tcp is held by task %s", published, s.TaskID)) {
		t.Fatalf("second task on the same host-mode port: %v", err)
	}
	if err := r.Stop(testCtx(t), s.TaskID, time.Second); err != nil {
		t.Fatal(err)
	}
	wait(t, r, s.TaskID)

	other, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	third := shSpec("sleep 30")
	third.Ports = []api.PortConfig{{TargetPort: 80, PublishedPort: uint32(other.Addr().(*net.TCPAddr).Port), PublishMode: api.PublishModeHost}}
	_, err = r.Start(testCtx(t), third)
	if !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), "is in use on this node") {
		t.Fatalf("host-mode port another program holds: %v", err)
	}
}

// Finding a free port, or checking a host-mode one, binds it on every
// address but never listens: a connection in the meantime is refused.
func TestPortSearchExposesNothing(t *testing.T) {
	refused := func(port int) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("port %d accepted a connection while the runtime looked at it", port)
		}
	}
	port, c, err := listenFree("tcp")
	if err != nil {
		t.Fatal(err)
	}
	refused(port)
	c.Close()
	if _, c, err = listenPort("tcp", port); err != nil {
		t.Fatal(err)
	}
	refused(port)
	c.Close()
	if _, c, err = listenFree("udp"); err != nil {
		t.Fatal(err)
	}
	c.Close()
}
