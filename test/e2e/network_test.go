package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/moby/moby/api/pkg/stdcopy"
	mobyclient "github.com/moby/moby/client"
	"github.com/vishvananda/netlink"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// execIn runs argv in a container and returns its output and exit code.
func execIn(t *testing.T, dc *mobyclient.Client, containerID string, argv ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ex, err := dc.ExecCreate(ctx, containerID, mobyclient.ExecCreateOptions{Cmd: argv, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatalf("exec %v: %v", argv, err)
	}
	att, err := dc.ExecAttach(ctx, ex.ID, mobyclient.ExecAttachOptions{})
	if err != nil {
		t.Fatalf("exec %v: %v", argv, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		t.Fatalf("exec %v: %v", argv, err)
	}
	res, err := dc.ExecInspect(ctx, ex.ID, mobyclient.ExecInspectOptions{})
	if err != nil {
		t.Fatalf("exec %v: %v", argv, err)
	}
	return strings.TrimSpace(out.String()), res.ExitCode
}

// plumbing lists what shoal's networking holds on the host: its links,
// its nftables tables, its namespaces.
func plumbing(t *testing.T) string {
	t.Helper()
	var out []string
	ls, err := netlink.LinkList()
	// Other tests change links meanwhile; the kernel then interrupts the
	// dump, which is worth another try.
	for i := 0; i < 10 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		ls, err = netlink.LinkList()
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if n := l.Attrs().Name; strings.HasPrefix(n, "shbr-") || strings.HasPrefix(n, "shvx-") || strings.HasPrefix(n, "shv") {
			out = append(out, "link "+n)
		}
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if strings.HasPrefix(tb.Name, "shoal") {
			out = append(out, "table "+tb.Name)
		}
	}
	ents, _ := os.ReadDir("/run/shoal/netns")
	for _, e := range ents {
		out = append(out, "netns "+e.Name())
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// vipOn returns the service's virtual IP on the network.
func vipOn(t *testing.T, c *client.Client, service, network string) string {
	t.Helper()
	ctx := ctxTimeout(t, 10*time.Second)
	svc, err := c.ServiceInspect(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := c.NetworkInspect(ctx, network)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Endpoint != nil {
		for _, v := range svc.Endpoint.VirtualIPs {
			if v.NetworkID == nw.ID {
				return strings.SplitN(v.Addr, "/", 2)[0]
			}
		}
	}
	t.Fatalf("service %s has no virtual IP on %s: %+v", service, network, svc.Endpoint)
	return ""
}

// taskIDIn returns the SHOAL_TASK_ID of a testapp's / answer.
func taskIDIn(body string) string {
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return body
	}
	return fmt.Sprint(v["taskID"])
}

// addrsOn returns the tasks' addresses on the network, sorted.
func addrsOn(ts []*api.Task, network string) []string {
	var out []string
	for _, tk := range running(ts) {
		for _, na := range tk.NetworksAttachments {
			if na.Network.Name == network {
				out = append(out, strings.SplitN(na.Addresses[0], "/", 2)[0])
			}
		}
	}
	slices.Sort(out)
	return out
}

// A stack's containers reach each other by name over their networks:
// short name, full name, alias and tasks.NAME resolve (endpoint mode
// dnsrr) to the tasks' overlay addresses, and HTTP by name works; a
// service on another network cannot resolve them; a task on a network
// with a way out reaches an address outside the cluster, one on an
// internal network only does not; and nothing is left after stack rm.
func TestStackContainersReachEachOtherByName(t *testing.T) {
	testutil.RequireRoot(t)
	d, dc, _ := dockerCluster(t)
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	before := plumbing(t)
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)
	t.Setenv("APP_IMAGE", image)

	// An address outside the cluster that only this test serves: the
	// host's side of Docker's bridge.
	outside := listenOutside(t)

	out, errOut, code := shoal(t, d, "stack", "deploy", "-c", filepath.Join("testdata", "net-stack.yml"), "net")
	if code != 0 {
		t.Fatalf("stack deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	as := waitTasks(t, ctx, c, "net_a", "2 a", nRunning(2))
	rs := waitTasks(t, ctx, c, "net_r", "2 r", nRunning(2))
	bs := waitTasks(t, ctx, c, "net_b", "1 b", nRunning(1))
	cs := waitTasks(t, ctx, c, "net_c", "1 c", nRunning(1))
	ds := waitTasks(t, ctx, c, "net_d", "1 d", nRunning(1))
	aAddrs, rAddrs := addrsOn(as, "net_appnet"), addrsOn(rs, "net_appnet")
	if len(aAddrs) != 2 || len(rAddrs) != 2 {
		t.Fatalf("addresses on net_appnet: a %v, r %v", aAddrs, rAddrs)
	}
	aVIP := vipOn(t, c, "net_a", "net_appnet")
	b := running(bs)[0].Status.RuntimeID
	for name, want := range map[string][]string{
		"a": {aVIP}, "net_a": {aVIP}, "alpha": {aVIP}, "tasks.a": aAddrs, "tasks.net_a": aAddrs,
		"r": rAddrs, "tasks.r": rAddrs,
	} {
		if got, code := execIn(t, dc, b, "/app", "resolve", "--wait", "10s", name); code != 0 || got != strings.Join(want, "\n") {
			t.Errorf("from b, %s resolves to %q (exit %d), want %q", name, got, code, want)
		}
	}
	// By name, through the VIP (balanced over a's tasks) and by dnsrr.
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		got, code := execIn(t, dc, b, "/app", "get", "--wait", "10s", "http://a:8080/")
		if code != 0 || !strings.Contains(got, "net_a") {
			t.Fatalf("from b, GET http://a:8080/ = %q (exit %d), want an answer of a task of net_a", got, code)
		}
		seen[taskIDIn(got)] = true
	}
	if len(seen) != 2 {
		t.Errorf("20 requests to a's VIP reached tasks %v, want both of a's tasks", seen)
	}
	if got, code := execIn(t, dc, b, "/app", "get", "--wait", "10s", "http://r:8080/"); code != 0 || !strings.Contains(got, "net_r") {
		t.Errorf("from b, GET http://r:8080/ = %q (exit %d), want an answer of a task of net_r", got, code)
	}

	// c is on another network: a is not a name it knows.
	cID := running(cs)[0].Status.RuntimeID
	if got, code := execIn(t, dc, cID, "/app", "resolve", "a"); code == 0 {
		t.Errorf("from c, a resolves to %q; want no such host (no shared network)", got)
	}
	if got, code := execIn(t, dc, cID, "/app", "get", "--wait", "10s", outside); code != 0 {
		t.Errorf("from c (network with a way out), GET %s: %q (exit %d), want it reached", outside, got, code)
	}
	dID := running(ds)[0].Status.RuntimeID
	if got, code := execIn(t, dc, dID, "/app", "get", "--timeout", "2s", outside); code == 0 {
		t.Errorf("from d (internal network only), GET %s answered %q; want no way out", outside, got)
	}

	out, errOut, code = shoal(t, d, "stack", "rm", "net")
	if code != 0 {
		t.Fatalf("stack rm: exit %d\n%s\n%s", code, out, errOut)
	}
	waitTasks(t, ctx, c, "", "all tasks gone", func(ts []*api.Task) bool { return len(ts) == 0 })
	waitPlumbing(t, before)
}

// listenOutside serves HTTP on the host's address on Docker's bridge and
// returns its URL.
func listenOutside(t *testing.T) string {
	t.Helper()
	br, err := netlink.LinkByName("docker0")
	if err != nil {
		skipOrFail(t, "no docker0 bridge: %v", err)
	}
	addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
	for i := 0; i < 10 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		addrs, err = netlink.AddrList(br, netlink.FAMILY_V4)
	}
	if err != nil || len(addrs) == 0 {
		skipOrFail(t, "docker0 has no IPv4 address: %v", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addrs[0].IP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "outside") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

// After an agent restart (a new dev on the same data folder) the adopted
// containers keep their interfaces and get their DNS and VIP rules again;
// and stack rm then leaves nothing.
func TestStackNetworksSurviveAnAgentRestart(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireDocker(t)
	before := plumbing(t)
	dc := testutil.DockerClient(t)
	cfg := daemon.DevConfig{DataDir: t.TempDir(), Logger: quietLog, Docker: true}
	d, err := daemon.StartDev(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)
	t.Setenv("APP_IMAGE", image)
	if out, errOut, code := shoal(t, d, "stack", "deploy", "-c", filepath.Join("testdata", "net-pair.yml"), "pair"); code != 0 {
		d.Close()
		t.Fatalf("stack deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	c := clientOf(t, d)
	waitTasks(t, ctx, c, "pair_a", "2 a", nRunning(2))
	b := running(waitTasks(t, ctx, c, "pair_b", "1 b", nRunning(1)))[0].Status.RuntimeID
	if got, code := execIn(t, dc, b, "/app", "get", "--wait", "10s", "http://a:8080/"); code != 0 {
		d.Close()
		t.Fatalf("before the restart, from b, GET http://a:8080/ = %q (exit %d)", got, code)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d, err = daemon.StartDev(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c = clientOf(t, d)
	waitTasks(t, ctx, c, "pair_a", "2 a after the restart", nRunning(2))
	waitTasks(t, ctx, c, "pair_b", "1 b after the restart", nRunning(1))
	aVIP := vipOn(t, c, "pair_a", "pair_default")
	if got, code := execIn(t, dc, b, "/app", "resolve", "--wait", "10s", "a"); code != 0 || got != aVIP {
		t.Errorf("after the restart, from b, a resolves to %q (exit %d), want its VIP %s", got, code, aVIP)
	}
	if got, code := execIn(t, dc, b, "/app", "get", "--wait", "10s", "http://a:8080/"); code != 0 || !strings.Contains(got, "pair_a") {
		t.Errorf("after the restart, from b, GET http://a:8080/ = %q (exit %d)", got, code)
	}

	if out, errOut, code := shoal(t, d, "stack", "rm", "pair"); code != 0 {
		t.Fatalf("stack rm: exit %d\n%s\n%s", code, out, errOut)
	}
	waitTasks(t, ctx, c, "", "all tasks gone", func(ts []*api.Task) bool { return len(ts) == 0 })
	waitPlumbing(t, before)
}

// waitPlumbing waits until the host's plumbing is want again: the agent
// detaches a task once it has stopped, just after the store shows it gone.
func waitPlumbing(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for plumbing(t) != want && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := plumbing(t); got != want {
		t.Errorf("the host holds\n%s\nwant as before\n%s", got, want)
	}
}

// skipOrFail skips a test that needs what is missing, or fails it when
// the run requires Docker (SHOAL_REQUIRE_DOCKER=1, as in CI).
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(testutil.EnvRequireDocker) == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
