package e2e

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// inTask runs the testapp with args in a process task's network and mount
// namespaces (as its health checks run) and returns its output and exit
// code.
func inTask(t *testing.T, tk *api.Task, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"-t", tk.Status.RuntimeID, "-n", "-m", testApp}, args...)
	out, err := exec.CommandContext(ctx, "nsenter", argv...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nsenter %v: %v", argv, err)
	}
	return strings.TrimSpace(string(out)), code
}

// A stack's process services on a root node get networks as containers
// do: each task runs in a namespace of its own, resolves the services it
// shares a network with by short name, full name, alias and tasks.NAME,
// reaches them through their VIP, and not those of other networks; a
// network with a way out reaches the host, an internal one does not; a
// port published in ingress mode and the HTTP ingress reach the tasks on
// their overlay addresses, through the node ports the runtime forwards;
// one published in host mode answers on the node's port. After an agent
// restart all of it works again, and stack rm leaves no link, rule,
// namespace or mount behind.
func TestStackProcessesReachEachOtherByName(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		skipOrFail(t, "no nsenter: %v", err)
	}
	before := plumbing(t)
	t.Setenv("TESTAPP", testApp)
	hostPort := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(freeTCPPort(t))))
	t.Setenv("HOSTPORT", strings.TrimPrefix(hostPort, "127.0.0.1:"))
	outside := listenOnHost(t)
	cfg := daemon.DevConfig{DataDir: t.TempDir(), Logger: quietLog, Docker: true, IngressAddr: "127.0.0.1:0",
		Publish: daemon.PublishConfig{Addr: "127.0.0.1"}, DrainDelay: 100 * time.Millisecond}
	d, err := daemon.StartDev(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			removeAll(t, clientOf(t, d))
			d.Close()
		}
	})
	ctx := ctxTimeout(t, 180*time.Second)
	if out, errOut, code := shoal(t, d, "stack", "deploy", "-c", filepath.Join("testdata", "net-proc.yml"), "proc"); code != 0 {
		t.Fatalf("stack deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	c := clientOf(t, d)
	as := waitTasks(t, ctx, c, "proc_a", "2 a", nRunning(2))
	b := running(waitTasks(t, ctx, c, "proc_b", "1 b", nRunning(1)))[0]
	cT := running(waitTasks(t, ctx, c, "proc_c", "1 c", nRunning(1)))[0]
	dT := running(waitTasks(t, ctx, c, "proc_d", "1 d", nRunning(1)))[0]
	h := running(waitTasks(t, ctx, c, "proc_h", "1 h", nRunning(1)))[0]
	aAddrs := addrsOn(as, "proc_appnet")
	aVIP := vipOn(t, c, "proc_a", "proc_appnet")

	hostNS, _ := os.Readlink("/proc/self/ns/net")
	if ns, _ := os.Readlink("/proc/" + b.Status.RuntimeID + "/ns/net"); ns == "" || ns == hostNS {
		t.Fatalf("b's namespace %q: want one of its own, not the host's %s", ns, hostNS)
	}
	check := func(when string) {
		t.Helper()
		for name, want := range map[string][]string{
			"a": {aVIP}, "proc_a": {aVIP}, "alpha": {aVIP}, "tasks.a": aAddrs, "tasks.proc_a": aAddrs,
		} {
			if got, code := inTask(t, b, "resolve", "--wait", "10s", name); code != 0 || got != strings.Join(want, "\n") {
				t.Errorf("%s, from b, %s resolves to %q (exit %d), want %q", when, name, got, code, want)
			}
		}
		seen := map[string]bool{}
		for i := 0; i < 20; i++ {
			got, code := inTask(t, b, "get", "--wait", "10s", "http://a:8080/")
			if code != 0 || !strings.Contains(got, "proc_a") {
				t.Fatalf("%s, from b, GET http://a:8080/ = %q (exit %d), want an answer of a task of proc_a", when, got, code)
			}
			seen[taskIDIn(got)] = true
		}
		if len(seen) != 2 {
			t.Errorf("%s, 20 requests to a's VIP reached tasks %v, want both of a's tasks", when, seen)
		}
	}
	check("at first")
	if data, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(data), cfg.DataDir) {
		t.Errorf("a task's mount reached the host:\n%s", data)
	}

	if got, code := inTask(t, cT, "resolve", "a"); code == 0 {
		t.Errorf("from c, a resolves to %q; want no such host (no shared network)", got)
	}
	if got, code := inTask(t, cT, "get", "--wait", "10s", outside); code != 0 || got != "outside" {
		t.Errorf("from c (network with a way out), GET %s: %q (exit %d), want it reached", outside, got, code)
	}
	if got, code := inTask(t, dT, "get", "--timeout", "2s", outside); code == 0 {
		t.Errorf("from d (internal network only), GET %s answered %q; want no way out", outside, got)
	}

	// The published port (routing mesh) and the HTTP ingress reach a's
	// tasks on their overlay addresses, through the node ports the
	// runtime forwards.
	svc, err := c.ServiceInspect(ctx, "proc_a")
	if err != nil || svc.Endpoint == nil || len(svc.Endpoint.Ports) != 1 {
		t.Fatalf("proc_a's endpoint: %+v %v", svc.Endpoint, err)
	}
	published := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(svc.Endpoint.Ports[0].PublishedPort)))
	aIDs := map[string]bool{as[0].ID: true, as[1].ID: true}
	if got := askHTTP(t, published); !aIDs[got] {
		t.Errorf("published port %s answered by %q, want a task of proc_a", published, got)
	}
	if got := askHTTP(t, d.IngressAddr()); !aIDs[got] {
		t.Errorf("the HTTP ingress answered by %q, want a task of proc_a", got)
	}
	if got := askHTTP(t, hostPort); got != h.ID {
		t.Errorf("host-mode port %s answered by %q, want h's task %s", hostPort, got, h.ID)
	}

	// An agent restart adopts the tasks and their plumbing.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d, err = daemon.StartDev(context.Background(), cfg); err != nil {
		closed = true
		t.Fatal(err)
	}
	c = clientOf(t, d)
	waitTasks(t, ctx, c, "proc_a", "2 a after the restart", nRunning(2))
	if now := running(waitTasks(t, ctx, c, "proc_b", "1 b after the restart", nRunning(1)))[0]; now.ID != b.ID {
		t.Fatalf("b is task %s after the restart, want the adopted %s", now.ID, b.ID)
	}
	check("after the restart")
	if got := askHTTP(t, hostPort); got != h.ID {
		t.Errorf("after the restart, host-mode port %s answered by %q, want h's task %s", hostPort, got, h.ID)
	}

	if out, errOut, code := shoal(t, d, "stack", "rm", "proc"); code != 0 {
		t.Fatalf("stack rm: exit %d\n%s\n%s", code, out, errOut)
	}
	waitTasks(t, ctx, c, "", "all tasks gone", func(ts []*api.Task) bool { return len(ts) == 0 })
	waitPlumbing(t, before)
	if data, err := os.ReadFile("/proc/self/mountinfo"); err != nil || strings.Contains(string(data), cfg.DataDir) {
		t.Errorf("the host's mounts (%v) name the node's data folder %s:\n%s", err, cfg.DataDir, data)
	}
}

// listenOnHost serves HTTP on an IPv4 address of the host that is not
// loopback, outside every task's network, and returns its URL.
func listenOnHost(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ipn.IP.String(), "0"))
		if err != nil {
			continue
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("outside")) })}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return "http://" + ln.Addr().String() + "/"
	}
	skipOrFail(t, "the host has no IPv4 address but loopback")
	return ""
}
