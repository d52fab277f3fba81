package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/demo"
	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/shoalproject/shoal/internal/testutil/netlab"
)

// `shoal demo --tour`, the real command, plays the rebalance: two nodes
// join and none of reference-data-api's tasks moves to them; after
// `service update --force` its tasks run on them (as the tour prints, and
// as the cluster's API says while the demo still runs). Ctrl-C then
// leaves nothing behind.
func TestDemoWalkthroughTour(t *testing.T) {
	requireLong(t)
	testutil.RequireRoot(t)
	dt := startDemoTour(t, signupBin(t))
	before := dt.waitFor(t, "nothing moved: ", 4*time.Minute)
	if in, all := onNewNodes(t, before); in != 0 || all != 2 {
		t.Errorf("after the nodes joined: %q; want none of the 2 tasks on the new nodes", before)
	}
	after := dt.waitFor(t, "spread: ", 2*time.Minute)
	if in, all := onNewNodes(t, after); in != 2 || all != 2 {
		t.Errorf("after --force: %q; want both tasks on the new nodes", after)
	}
	dt.waitFor(t, "The tour is over", time.Minute)

	// The cluster agrees, while the demo runs.
	ctx := ctxTimeout(t, 30*time.Second)
	c, host := dt.cluster(t, ctx)
	on, err := demo.Placement(ctx, c, demo.API)
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range on {
		if h := host[id]; n != 1 || !strings.HasPrefix(h, "shoal-demo-") {
			t.Errorf("%s runs %d healthy tasks on node %s (%s); want one on each extra node: %v", demo.API, n, id, h, on)
		}
	}
	dt.interrupt(t)
}

// Ctrl-C in the middle of the rebalance (the nodes joined, the forced
// update started tasks on them) leaves nothing behind either.
func TestDemoWalkthroughTourInterrupted(t *testing.T) {
	requireLong(t)
	testutil.RequireRoot(t)
	dt := startDemoTour(t, signupBin(t))
	dt.waitFor(t, "== 8.", 4*time.Minute) // with no pause, the forced update starts
	c, err := client.New("unix://" + filepath.Join(dt.dataDir, "shoal.sock"))
	if err != nil {
		t.Fatal(err)
	}
	// Poll, not watch: the update may have placed them before a watch
	// would start, and send no event after.
	ctx := ctxTimeout(t, time.Minute)
	for !onExtraNode(t, ctx, c) {
		select {
		case <-ctx.Done():
			t.Fatal("no task of the demo ran on an extra node within a minute of the forced update")
		case <-time.After(100 * time.Millisecond):
		}
	}
	dt.interrupt(t)
}

// onExtraNode reports whether a live task runs on one of the demo's
// extra nodes.
func onExtraNode(t *testing.T, ctx context.Context, c *client.Client) bool {
	t.Helper()
	nodes, err := c.NodeList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := c.TaskList(ctx, client.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ts {
		for _, n := range nodes {
			if n.ID == tk.NodeID && strings.HasPrefix(n.Description.Hostname, "shoal-demo-") && tk.Live() {
				return true
			}
		}
	}
	return false
}

// demoTour is a running `shoal demo --tour`.
type demoTour struct {
	*nodeProc
	bin             string
	dataDir, tmpDir string
	bridge          string
	shm             []string // /dev/shm's entries before the demo
	out             []string
}

var bridgeRe = regexp.MustCompile(`bridge (shdb-[0-9a-f]+)`)

// startDemoTour starts the demo with no pause between the steps, its
// temporary folders (TMPDIR) in a folder of the test, and waits until it
// held its two nodes back. args are more flags of shoal demo.
func startDemoTour(t *testing.T, bin string, args ...string) *demoTour {
	t.Helper()
	dataDir := t.TempDir()
	dt := startDemo(t, bin, dataDir, "holding back two nodes",
		append([]string{"--data-dir", dataDir, "--ingress", "127.0.0.1:0"}, args...)...)
	l := dt.out[len(dt.out)-1]
	m := bridgeRe.FindStringSubmatch(l)
	if m == nil {
		t.Fatalf("no bridge named in %q", l)
	}
	dt.bridge = m[1]
	return dt
}

// startDemo starts `shoal demo --tour` with args, no pause between the
// steps and its temporary folders (TMPDIR) in a folder of the test, and
// waits until it printed ready; dataDir is its cluster's data folder ("" with
// -H). Its cleanup ends a demo that a failed test left running.
func startDemo(t *testing.T, bin, dataDir, ready string, args ...string) *demoTour {
	t.Helper()
	dt := &demoTour{bin: bin, dataDir: dataDir, tmpDir: t.TempDir()}
	dt.shm, _ = filepath.Glob("/dev/shm/shoal-demo-*")
	cmd := exec.Command(shoalBin, append([]string{"demo", "--tour", "--step-delay", "0", "--signup-bin", bin}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+dt.tmpDir)
	t.Cleanup(func() { // a test that failed half-way still ends the demo
		if dt.nodeProc != nil {
			select {
			case <-dt.exited:
			default:
				_ = dt.cmd.Process.Signal(syscall.SIGINT)
				select {
				case <-dt.exited:
				case <-time.After(2 * time.Minute):
					_ = dt.cmd.Process.Kill()
				}
			}
		}
		if t.Failed() {
			t.Logf("shoal demo printed:\n%s", strings.Join(dt.out, "\n"))
		}
	})
	dt.nodeProc, dt.out = startNodeCmd(t, "shoal demo", dataDir, ready, cmd)
	return dt
}

// cluster is a client of the demo's cluster and its nodes' host names
// by ID.
func (dt *demoTour) cluster(t *testing.T, ctx context.Context) (*client.Client, map[string]string) {
	t.Helper()
	c, err := client.New("unix://" + filepath.Join(dt.dataDir, "shoal.sock"))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.NodeList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	host := map[string]string{}
	for _, n := range nodes {
		host[n.ID] = n.Description.Hostname
	}
	return c, host
}

// waitFor returns the first line (from now on) that holds s.
func (dt *demoTour) waitFor(t *testing.T, s string, within time.Duration) string {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-dt.lines:
			if !ok {
				t.Fatalf("shoal demo ended before it printed %q", s)
			}
			dt.out = append(dt.out, l)
			t.Log(l)
			if strings.Contains(l, s) {
				return l
			}
		case <-timeout:
			t.Fatalf("shoal demo did not print %q within %v", s, within)
		}
	}
}

// interrupt sends Ctrl-C's SIGINT, waits until the demo ended, and checks
// that it left nothing: no process it started (agents, tasks), no link
// of its nodes (the bridge, the veths: the namespaces went with them),
// no accept rule of the bridge, no folder in TMPDIR or /dev/shm, and no
// extra node in the cluster's state.
func (dt *demoTour) interrupt(t *testing.T) {
	t.Helper()
	dt.stop(t)
	dt.checkHostClean(t)
	// The cluster's state (its data folder stays) holds no extra node:
	// the demo removed them before it stopped.
	dev, _ := startNodeProc(t, "shoal dev", dt.dataDir, "cluster ready", "dev", "--data-dir", dt.dataDir,
		"--ingress", "off", "--publish-addr", "off", "--log-level", "warn")
	defer dev.signal(syscall.SIGTERM)
	c, err := client.New("unix://" + filepath.Join(dt.dataDir, "shoal.sock"))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := c.NodeList(ctxTimeout(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if strings.HasPrefix(n.Description.Hostname, "shoal-demo-") {
			t.Errorf("the cluster still holds node %s (%s, %s) after the demo", n.ID, n.Description.Hostname, n.Status.State)
		}
	}
}

// stop sends Ctrl-C's SIGINT and waits until the demo ended, exiting 0.
func (dt *demoTour) stop(t *testing.T) {
	t.Helper()
	if err := dt.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for drained := false; !drained; {
		select {
		case l, ok := <-dt.lines:
			if ok {
				dt.out = append(dt.out, l)
				t.Log(l)
			}
			drained = !ok
		case <-time.After(2 * time.Minute):
			t.Fatal("shoal demo did not end within 2 minutes of SIGINT")
		}
	}
	<-dt.exited
	t.Logf("the demo ended %.1fs after SIGINT (%v)", time.Since(start).Seconds(), dt.cmd.ProcessState)
	if !dt.cmd.ProcessState.Success() {
		t.Errorf("shoal demo exited with %v after SIGINT", dt.cmd.ProcessState)
	}
}

// checkHostClean checks that the ended demo left nothing on this host:
// no link of extra nodes, no accept rule of their bridge, no folder in
// TMPDIR or /dev/shm, no process that names its folders or the signup
// program.
func (dt *demoTour) checkHostClean(t *testing.T) {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if name := l.Attrs().Name; strings.HasPrefix(name, "shd") {
			t.Errorf("link %s left after the demo", name)
		}
	}
	if dt.bridge != "" {
		if left, err := netlab.HasRules(dt.bridge); err != nil || left {
			t.Errorf("accept rules of %s left after the demo (%v)", dt.bridge, err)
		}
	}
	if left, _ := os.ReadDir(dt.tmpDir); len(left) != 0 {
		t.Errorf("the demo left %v in its TMPDIR", left)
	}
	if shm, _ := filepath.Glob("/dev/shm/shoal-demo-*"); !slices.Equal(shm, dt.shm) {
		t.Errorf("/dev/shm/shoal-demo-* is %v after the demo, %v before", shm, dt.shm)
	}
	paths := []string{dt.tmpDir, dt.bin}
	if dt.dataDir != "" {
		paths = append(paths, dt.dataDir)
	}
	if procs := processesNaming(paths...); len(procs) > 0 {
		t.Errorf("processes left after the demo: %v", procs)
	}
}

// processesNaming lists the processes whose command line names one of
// the paths (the agents' data folders are in the demo's TMPDIR, and the
// tasks run the signup program).
func processesNaming(dirs ...string) []string {
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		for _, d := range dirs {
			if strings.Contains(cmdline, d) {
				out = append(out, strings.Split(p, "/")[2]+": "+cmdline)
			}
		}
	}
	return out
}

var onNewRe = regexp.MustCompile(`has (\d+) of its (\d+) tasks on the new nodes`)

// onNewNodes parses the tour's line on how many tasks run on the new
// nodes.
func onNewNodes(t *testing.T, line string) (in, all int) {
	t.Helper()
	m := onNewRe.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("no task counts in %q", line)
	}
	in, _ = strconv.Atoi(m[1])
	all, _ = strconv.Atoi(m[2])
	return in, all
}
