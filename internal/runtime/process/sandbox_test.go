package process

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/testutil"
)

// sandboxSpec is a task on networks, as the agent asks for it.
func sandboxSpec(script string) runtime.TaskSpec {
	s := shSpec(script)
	s.Sandbox = &runtime.Sandbox{
		Addr: netip.MustParseAddr("10.99.0.5"),
		DNS: runtime.DNS{
			Nameservers: []netip.Addr{netip.MustParseAddr("127.0.0.11")},
			Search:      []string{"example.org"},
			Options:     []string{"ndots:0"},
		},
	}
	s.Ports = []api.PortConfig{{TargetPort: 80}}
	return s
}

// A sandboxed task runs in a network namespace of its own, with lo up,
// sees its own resolv.conf while the host's stays as it was, listens on
// its target port, and Exec (its health checks) runs in the same
// namespaces. A restarted runtime finds its namespace again.
func TestSandboxedTaskHasItsOwnNamespaces(t *testing.T) {
	testutil.RequireRoot(t)
	r, root := newRuntime(t)
	hostNS, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	s := sandboxSpec(`readlink /proc/self/ns/net; cat /etc/resolv.conf; echo "port=$PORT node=$SHOAL_NODE_ADDR"; echo ready; exec sleep 30`)
	h := start(t, r, s)
	waitForOutput(t, r, s.TaskID, "ready")

	path, err := r.NetNS(testCtx(t), s.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	taskNS, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := readLog(t, r, s.TaskID)
	if taskNS == hostNS || !strings.HasPrefix(out, taskNS+"\n") {
		t.Errorf("task namespace %s (NetNS) / output %q; want one of its own, not the host's %s", taskNS, out, hostNS)
	}
	wantResolv := "nameserver 127.0.0.11\nsearch example.org\noptions ndots:0\n"
	if !strings.Contains(out, wantResolv) {
		t.Errorf("the task's /etc/resolv.conf:\n%s\nwant\n%s", out, wantResolv)
	}
	if now, _ := os.ReadFile("/etc/resolv.conf"); string(now) != string(hostResolv) {
		t.Errorf("the host's /etc/resolv.conf changed to %q", now)
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), s.TaskID) {
		t.Errorf("the task's mount leaked to the host:\n%s", mounts)
	}
	if !strings.Contains(out, "port=80 node=\n") {
		t.Errorf("output %q: want PORT=80, the target port, and no SHOAL_NODE_ADDR in the task's own namespace", out)
	}
	if len(h.Endpoints) != 1 || h.Endpoints[0].TargetPort != 80 || !strings.HasPrefix(h.Endpoints[0].Addr, "127.0.0.1:") {
		t.Errorf("endpoints %+v, want a port of the node (127.0.0.1) for target 80, forwarded to the task", h.Endpoints)
	}
	if up := loUp(t, path); !up {
		t.Error("lo is down in the task's namespace")
	}

	code, got, err := r.Exec(testCtx(t), s.TaskID, []string{"/bin/sh", "-c", "readlink /proc/self/ns/net; cat /etc/resolv.conf; cat /proc/sys/net/ipv4/ip_unprivileged_port_start"})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v %s", code, err, got)
	}
	if want := taskNS + "\n" + wantResolv + "0\n"; string(got) != want {
		t.Errorf("exec in the task printed\n%s\nwant\n%s", got, want)
	}

	// Adopted by a new runtime over the same root.
	awaitDropped(t, r, s.TaskID)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, r2) })
	if _, err := r2.List(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if again, err := r2.NetNS(testCtx(t), s.TaskID); err != nil || again != path {
		t.Errorf("after a restart NetNS = %q, %v; want %q", again, err, path)
	}
	if code, got, err := r2.Exec(testCtx(t), s.TaskID, []string{"readlink", "/proc/self/ns/net"}); err != nil || code != 0 || strings.TrimSpace(string(got)) != taskNS {
		t.Errorf("after a restart, exec in the task: %d %v %q, want %s", code, err, got, taskNS)
	}
	if err := r2.Stop(testCtx(t), s.TaskID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.NetNS(testCtx(t), s.TaskID); err == nil {
		t.Error("NetNS of a stopped task succeeded")
	}
}

// loUp reports whether lo is up in the namespace at path.
func loUp(t *testing.T, path string) bool {
	t.Helper()
	ns, err := netns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	return lo.Attrs().Flags&(1<<0) != 0 // net.FlagUp
}

// A task without a sandbox stays on the host's network.
func TestUnsandboxedTaskHasNoNamespace(t *testing.T) {
	r, _ := newRuntime(t)
	s := shSpec("exec sleep 30")
	start(t, r, s)
	if _, err := r.NetNS(testCtx(t), s.TaskID); !errors.Is(err, errNotSandboxed) {
		t.Errorf("NetNS of a host-network task: %v, want %v", err, errNotSandboxed)
	}
}

// What cannot be set up is an error of Start, with nothing left running:
// a host-mode port another program holds, a program that cannot be
// executed (rejected by the launcher).
func TestSandboxStartFailures(t *testing.T) {
	testutil.RequireRoot(t)
	r, root := newRuntime(t)
	held, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	s := sandboxSpec("exec sleep 30")
	s.Ports = []api.PortConfig{{TargetPort: 80, PublishedPort: uint32(held.Addr().(*net.TCPAddr).Port), PublishMode: api.PublishModeHost}}
	if _, err := r.Start(testCtx(t), s); !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), "in use on this node") {
		t.Errorf("host-mode port held by another program: %v, want rejected as in use", err)
	}
	notExec := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(notExec, []byte("\x00\x01garbage"), 0o755); err != nil {
		t.Fatal(err)
	}
	s = sandboxSpec("")
	s.Container = api.ContainerSpec{Command: []string{notExec}}
	if _, err := r.Start(testCtx(t), s); !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), "exec format error") {
		t.Errorf("program that cannot run: %v, want rejected with exec's reason", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("task folders left: %v", ents)
	}
}

// A sandboxed task's ports answer on the node's ports, forwarded to the
// task's address (here the test's own listeners stand in for the task's)
// until the task ends, and its endpoints are those node ports: a
// host-mode port on its published port, an ingress-mode one (TCP and
// UDP) on a free port, so that the routing mesh of a node without the
// task's networks reaches it on the node's address, as a container.
func TestSandboxedPortsAreForwarded(t *testing.T) {
	testutil.RequireRoot(t)
	r, _ := newRuntime(t)
	// The task's TCP and UDP ports share a number: try again while the
	// kernel's free TCP port is a UDP port someone holds.
	var target uint32
	var udpTask net.PacketConn
	for attempt := 0; udpTask == nil; attempt++ {
		target = serveTask(t, func(c net.Conn) {
			c.Write([]byte("from the task"))
			c.Close()
		})
		var err error
		udpTask, err = net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(target))))
		if err != nil && attempt == 20 {
			t.Fatalf("no port free for both TCP and UDP after %d tries: %v", attempt+1, err)
		}
	}
	defer udpTask.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := udpTask.ReadFrom(buf)
			if err != nil {
				return
			}
			udpTask.WriteTo(append([]byte("udp "), buf[:n]...), from)
		}
	}()
	hostPort := freePort(t)
	s := sandboxSpec("exec sleep 30")
	s.Sandbox.Addr = netip.MustParseAddr("127.0.0.1")
	s.Ports = []api.PortConfig{
		{TargetPort: target, PublishedPort: uint32(hostPort), PublishMode: api.PublishModeHost},
		{TargetPort: target, PublishedPort: 30080, PublishMode: api.PublishModeIngress},
		{TargetPort: target, Protocol: "udp", PublishedPort: 30080, PublishMode: api.PublishModeIngress},
	}
	h := start(t, r, s)
	if len(h.Endpoints) != 3 {
		t.Fatalf("endpoints %+v, want 3", h.Endpoints)
	}
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort)); h.Endpoints[0].Addr != want {
		t.Errorf("host-mode endpoint %s, want the published port %s", h.Endpoints[0].Addr, want)
	}
	for _, ep := range h.Endpoints {
		if ep.TargetPort != target || !strings.HasPrefix(ep.Addr, "127.0.0.1:") || strings.HasSuffix(ep.Addr, ":30080") || strings.HasSuffix(ep.Addr, ":"+strconv.Itoa(int(target))) {
			t.Errorf("endpoint %+v, want a node port of its own for target %d", ep, target)
		}
	}
	read := func(addr string) (string, error) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		return string(b), err
	}
	for _, ep := range h.Endpoints[:2] {
		if got, err := read(ep.Addr); err != nil || got != "from the task" {
			t.Fatalf("the node's port %s: %q, %v; want the task's answer", ep.Addr, got, err)
		}
	}
	uc, err := net.Dial("udp", h.Endpoints[2].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	uc.Write([]byte("ping"))
	if n, err := uc.Read(buf); err != nil || string(buf[:n]) != "udp ping" {
		t.Errorf("the node's UDP port %s: %q, %v; want the task's answer", h.Endpoints[2].Addr, buf[:n], err)
	}
	if err := r.Stop(testCtx(t), s.TaskID, 0); err != nil {
		t.Fatal(err)
	}
	for _, ep := range h.Endpoints[:2] {
		if got, err := read(ep.Addr); err == nil && got != "" {
			t.Errorf("after the task ended the node's port %s still answered %q", ep.Addr, got)
		}
	}
}

// A sandboxed task run as a user is that user once the launcher has set
// it up, and so are its health checks.
func TestSandboxedTaskRunsAsItsUser(t *testing.T) {
	testutil.RequireRoot(t)
	r, root := newRuntime(t)
	// Let other users reach the root (the test's temporary folders are 0700).
	for _, d := range []string{filepath.Dir(filepath.Dir(root)), filepath.Dir(root)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	s := sandboxSpec(`echo "uid=$(id -u) gid=$(id -g)"; echo ready; exec sleep 30`)
	s.Container.User = "65534:65534"
	start(t, r, s)
	waitForOutput(t, r, s.TaskID, "ready")
	if out, _ := readLog(t, r, s.TaskID); !strings.Contains(out, "uid=65534 gid=65534\n") {
		t.Errorf("task output %q, want it run as 65534:65534", out)
	}
	if code, got, err := r.Exec(testCtx(t), s.TaskID, []string{"/bin/sh", "-c", "id -u; cat /etc/resolv.conf"}); err != nil || code != 0 || !strings.HasPrefix(string(got), "65534\nnameserver 127.0.0.11\n") {
		t.Errorf("exec in the task: %d %v %q, want uid 65534, and the task's resolv.conf readable", code, err, got)
	}
}

// A task's resolv.conf points at the agent's resolver, unless the service
// sets its own nameservers, search domains or options, which win one by
// one, as in Swarm.
func TestResolvConfOfASandbox(t *testing.T) {
	sb := sandboxSpec("").Sandbox
	if got, want := resolvConf(sb, nil), "nameserver 127.0.0.11\nsearch example.org\noptions ndots:0\n"; got != want {
		t.Errorf("resolv.conf %q, want %q", got, want)
	}
	own := &api.DNSConfig{Nameservers: []string{"192.0.2.53"}, Options: []string{"timeout:1"}}
	if got, want := resolvConf(sb, own), "nameserver 192.0.2.53\nsearch example.org\noptions timeout:1\n"; got != want {
		t.Errorf("with the service's own DNS settings: %q, want %q", got, want)
	}
}

// serveTask stands for a sandboxed task's listener: a TCP port on
// 127.0.0.1, each connection to which is given to serve, until the test
// ends. It returns the port.
func serveTask(t *testing.T, serve func(net.Conn)) uint32 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			serve(c)
		}
	}()
	return uint32(ln.Addr().(*net.TCPAddr).Port)
}

// freePort is a TCP port no socket holds now.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := testutil.FreePort("")
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// A host-mode port is open to anyone, and its forwarder runs in the
// agent's process, two descriptors a connection: connections and UDP
// flows beyond hostModeMaxConns are closed at once, or a stranger could
// take every descriptor the agent (and a manager's API and Raft) shares.
func TestSandboxedHostModeForwarderIsBounded(t *testing.T) {
	testutil.RequireRoot(t)
	old := hostModeMaxConns
	hostModeMaxConns = 4
	defer func() { hostModeMaxConns = old }()
	r, _ := newRuntime(t)
	task, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	go func() {
		for {
			c, err := task.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held until the test ends
		}
	}()
	s := sandboxSpec("exec sleep 30")
	s.Sandbox.Addr = netip.MustParseAddr("127.0.0.1")
	s.Ports = []api.PortConfig{{TargetPort: uint32(task.Addr().(*net.TCPAddr).Port), PublishMode: api.PublishModeHost}}
	h := start(t, r, s)
	defer r.Stop(testCtx(t), s.TaskID, 0)
	for i := range hostModeMaxConns {
		c, err := net.DialTimeout("tcp", h.Endpoints[0].Addr, time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer c.Close()
	}
	c, err := net.DialTimeout("tcp", h.Endpoints[0].Addr, time.Second)
	if err != nil {
		return // refused: bounded too
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection %d past the cap stayed open", hostModeMaxConns+1)
	}
}

// A descriptor the agent holds without close-on-exec (one it inherited
// from whatever started it, say) never reaches a sandboxed task: the
// launcher, which runs as root before it drops to the task's user, closes
// every descriptor but the standard three at the exec.
func TestSandboxedTaskGetsNoStrayDescriptors(t *testing.T) {
	testutil.RequireRoot(t)
	r, _ := newRuntime(t)
	// Made after the runtime opened: the launcher is the last guard.
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	s := sandboxSpec(fmt.Sprintf(`if [ -e /proc/self/fd/%d ]; then echo leaked; fi; echo ready; exec sleep 30`, fd))
	start(t, r, s)
	defer r.Stop(testCtx(t), s.TaskID, 0)
	waitForOutput(t, r, s.TaskID, "ready")
	if out, _ := readLog(t, r, s.TaskID); strings.Contains(out, "leaked") {
		t.Errorf("the task has the agent's descriptor %d", fd)
	}
}

// An adopted task's process may end, and its PID name another process,
// before the runtime's watcher sees the end: NetNS then must not give the
// agent /proc/PID/ns/net, which would be the other process's namespace
// (the host's, here the test's own), where the agent would plumb.
func TestNetNSOfAnAdoptedTaskWhosePIDWasReused(t *testing.T) {
	testutil.RequireRoot(t)
	r, _ := newRuntime(t)
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	_ = cmd.Wait()
	// Adopted (not our child), its process gone, the watcher not yet
	// woken; its PID now another process's.
	tk := &task{id: "reusedpid", sandboxed: true, pid: os.Getpid(), pidfd: pidfd, done: make(chan struct{})}
	r.mu.Lock()
	r.tasks[tk.id] = tk
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.tasks, tk.id)
		r.mu.Unlock()
	}()
	if path, err := r.NetNS(testCtx(t), tk.id); err == nil {
		t.Errorf("NetNS of a task whose process ended: %s, want an error", path)
	}
}

// So does a task on the host's network, which Go's exec starts directly:
// the runtime marks every descriptor the process inherited close-on-exec
// when it opens.
func TestUnsandboxedTaskGetsNoStrayDescriptors(t *testing.T) {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0) // no O_CLOEXEC: inherited
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	r, _ := newRuntime(t)
	s := shSpec(fmt.Sprintf(`if [ -e /proc/self/fd/%d ]; then echo leaked; fi; echo ready; exec sleep 30`, fd))
	start(t, r, s)
	defer r.Stop(testCtx(t), s.TaskID, 0)
	waitForOutput(t, r, s.TaskID, "ready")
	if out, _ := readLog(t, r, s.TaskID); strings.Contains(out, "leaked") {
		t.Errorf("the task has the agent's descriptor %d", fd)
	}
}

// A restarted runtime forwards the node's ports of a sandboxed task it
// adopts again; one another program took meanwhile stays unforwarded,
// and is no longer listed as the task's endpoint, and the task's other
// ports are forwarded still.
func TestAdoptedSandboxForwardsThePortsItCan(t *testing.T) {
	testutil.RequireRoot(t)
	target := serveTask(t, func(c net.Conn) {
		c.Write([]byte("from the task"))
		c.Close()
	})
	root := filepath.Join(t.TempDir(), "root")
	r, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	s := sandboxSpec("exec sleep 30")
	s.Sandbox.Addr = netip.MustParseAddr("127.0.0.1")
	s.Ports = []api.PortConfig{
		{TargetPort: target, PublishedPort: uint32(freePort(t)), PublishMode: api.PublishModeHost},
		{TargetPort: target, PublishedPort: 30080, PublishMode: api.PublishModeIngress},
	}
	h, err := r.Start(testCtx(t), s)
	if err != nil {
		shutdown(t, r)
		t.Fatalf("start: %v", err)
	}
	awaitDropped(t, r, s.TaskID)
	// The task runs on; the runtime's forwarders stop with it.
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	squatter, err := net.Listen("tcp", h.Endpoints[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Close()
	r, err = New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, r) })
	hs, err := r.List(testCtx(t))
	if err != nil || len(hs) != 1 || !hs[0].Running {
		t.Fatalf("list: %+v %v, want the task, running", hs, err)
	}
	// The taken port answers as the squatter: it is no endpoint of the
	// task, or every ingress would send the squatter the task's traffic.
	if eps := hs[0].Endpoints; len(eps) != 1 || eps[0] != h.Endpoints[1] {
		t.Errorf("adopted endpoints %+v, want only %+v (%s is taken)", eps, h.Endpoints[1], h.Endpoints[0].Addr)
	}
	c, err := net.DialTimeout("tcp", h.Endpoints[1].Addr, time.Second)
	if err != nil {
		t.Fatalf("the adopted task's free port %s: %v; want it forwarded", h.Endpoints[1].Addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(c); err != nil || string(got) != "from the task" {
		t.Errorf("the adopted task's free port %s: %q, %v; want the task's answer", h.Endpoints[1].Addr, got, err)
	}
}
