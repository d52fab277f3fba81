package e2e

import (
	"context"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/demo"
	"github.com/shoalproject/shoal/internal/testutil"
)

// `shoal demo -H HOST --tour` on a running one-node cluster (a `shoal
// dev` process with its own data folder, API socket and ingress, which
// already runs a service, a network, a config and a secret of its own):
// the tour's outcomes, from its output: the killed replica replaced, two
// replicas serving through a kill, anti-forgery failures without sticky
// sessions and none with v2's cookie, a start-first rollout that fails no
// request, the broken release rolled back; at the rebalance the tour says
// the step is not played and why (the cluster has 1 node that fits)
// instead of failing. After Ctrl-C the cluster is as it was: the same
// services, networks, configs and secrets (none of the demo's), its own
// service's task untouched, no process of the demo's tasks left, the demo
// networks' links gone from this host, the cluster still running and its
// node ready and active.
func TestDemoWalkthroughTourOnHost(t *testing.T) {
	requireLong(t)
	testutil.RequireRoot(t)
	bin := signupBin(t)
	start := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), what) }
	ctx := ctxTimeout(t, 8*time.Minute)
	hc := startHostCluster(t, ctx)
	step("cluster up: " + hc.host)

	dt := startDemo(t, bin, "", "creating networks, configs and secrets", "-H", hc.host, "--ingress", hc.ingress)
	t.Cleanup(func() { // before the demo's cleanup removes the tasks
		if t.Failed() {
			dumpTaskLogs(t, hc.dir)
		}
	})
	dt.waitFor(t, "the signup app is up and healthy", 3*time.Minute)
	step("demo up")
	dt.waitFor(t, "The tour does not play this step: ", 5*time.Minute)
	dt.waitFor(t, "The tour is over", time.Minute)
	step("tour over")
	checkTourOutcomes(t, dt.out)
	if !slices.Contains(dt.out, "== 7. Rebalancing after nodes join (told, not played)") {
		t.Error("the tour did not tell the rebalance as not played")
	}
	why := "The tour does not play this step: the cluster -H names has 1 ready, active node(s) with spare capacity that run process tasks and networks, " +
		"and the step needs one for the stacks and at least one more to spread to (the demo adds no node to a cluster it did not start)."
	if !slices.Contains(dt.out, why) {
		t.Errorf("the tour did not say why it does not play the rebalance; want the line %q", why)
	}
	vnis := demo.NetworkVNIs(ctx, hc.c)
	if len(vnis) != len(demo.Networks) {
		t.Errorf("VXLAN IDs of the demo's networks: %v", vnis)
	}

	dt.stop(t)
	step("demo ended")
	dt.checkHostClean(t)
	hc.checkAsBefore(t, ctx, "after the tour")
	// The demo leaves the networks' links to the node, which removes them.
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := demo.WaitPlumbingGone(pctx, vnis); err != nil {
		t.Error(err)
	}
	step("the cluster is as it was")
}

// Ctrl-C while `shoal demo -H HOST` deploys, once a task of it runs, is
// no failure (exit 0) and leaves the cluster as it was, with no process of
// the demo's tasks left.
func TestDemoWalkthroughOnHostInterrupted(t *testing.T) {
	requireLong(t)
	testutil.RequireRoot(t)
	bin := signupBin(t)
	ctx := ctxTimeout(t, 3*time.Minute)
	hc := startHostCluster(t, ctx)
	dt := startDemo(t, bin, "", "creating networks, configs and secrets", "-H", hc.host, "--ingress", hc.ingress)
	waitTaskRunning(t, ctx, hc.c, time.Minute)
	dt.stop(t)
	dt.checkHostClean(t)
	hc.checkAsBefore(t, ctx, "after a Ctrl-C while the demo deployed")
}

// hostCluster is a running `shoal dev` for the demo's -H, with a service,
// a network, a config and a secret of its own, and what it held before
// the demo.
type hostCluster struct {
	dev                *nodeProc
	dir, host, ingress string // data folder, API address, ingress HOST:PORT
	c                  *client.Client
	before             map[string][]string
	node               *api.Node
	own                *api.Task
}

// startHostCluster starts the cluster; its cleanup (after the demo's)
// removes what is left on it and stops it.
func startHostCluster(t *testing.T, ctx context.Context) *hostCluster {
	t.Helper()
	hc := &hostCluster{dir: t.TempDir()}
	// Not --docker=false: a dev node gets its networking with the docker
	// runtime, and without it runs process tasks on the host's network.
	dev, lines := startNodeProc(t, "shoal dev", hc.dir, "try:", "dev", "--data-dir", hc.dir, "--log-level", "error",
		"--ingress", "127.0.0.1:0", "--publish-addr", "off")
	hc.dev, hc.host = dev, field(t, lines, "API")
	u, err := url.Parse(strings.Fields(field(t, lines, "ingress"))[0])
	if err != nil {
		t.Fatal(err)
	}
	hc.ingress = u.Host
	if hc.c, err = client.New(hc.host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopHostCluster(t, hc.c, dev, hc.dir) })
	if _, err := hc.c.NetworkCreate(ctx, api.NetworkSpec{Name: "own-net"}); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.c.ConfigCreate(ctx, api.ConfigSpec{Name: "own-config", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.c.SecretCreate(ctx, api.SecretSpec{Name: "own-secret", Data: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	_, own := createRunning(t, ctx, hc.c, processSpec("own", 1, "sleep", "3600"))
	hc.own = own[0]
	hc.before = clusterObjects(t, ctx, hc.c)
	hc.node = singleNode(t, ctx, hc.c)
	return hc
}

// checkAsBefore checks that the cluster still runs, holds the objects it
// held before the demo, its node ready and active, its own task untouched.
func (hc *hostCluster) checkAsBefore(t *testing.T, ctx context.Context, when string) {
	t.Helper()
	select {
	case <-hc.dev.exited:
		t.Fatalf("the cluster stopped with the demo (%s)", when)
	default:
	}
	if after := clusterObjects(t, ctx, hc.c); !maps.EqualFunc(after, hc.before, slices.Equal) {
		t.Errorf("the cluster's objects %s:\n%v\nbefore:\n%v", when, after, hc.before)
	}
	if n := singleNode(t, ctx, hc.c); n.ID != hc.node.ID || n.Status.State != api.NodeStateReady || n.Spec.Availability != api.AvailabilityActive {
		t.Errorf("%s the node is %s (%s, %s); want %s, ready and active", when, n.ID, n.Status.State, n.Spec.Availability, hc.node.ID)
	}
	ts, err := hc.c.TaskList(ctx, client.TaskFilter{Service: "own"})
	if err != nil {
		t.Fatal(err)
	}
	if r := running(ts); len(r) != 1 || r[0].ID != hc.own.ID {
		t.Errorf("%s the cluster's own service runs %s; want its task %s untouched", when, describe(ts), hc.own.ID)
	}
}

// waitTaskRunning waits until a task of the demo's stacks runs.
func waitTaskRunning(t *testing.T, ctx context.Context, c *client.Client, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ts, err := c.TaskList(ctx, client.TaskFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range ts {
			if strings.HasPrefix(tk.ServiceName, demo.Stack+"_") || strings.HasPrefix(tk.ServiceName, demo.Infrastructure+"_") {
				if tk.Status.State == api.TaskStateRunning {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no task of the demo ran within %v", within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkTourOutcomes checks the results the tour printed for steps 1 to 6.
func checkTourOutcomes(t *testing.T, out []string) {
	t.Helper()
	if m := match(t, out, `task (\S+) killed; task (\S+) replaced it in slot \d+`); m != nil && m[1] == m[2] {
		t.Errorf("the killed task %s was not replaced", m[1])
	}
	if m := match(t, out, `^   -> (\d+) requests answered, (\d+) failed(.*)$`); m != nil && (atoi(m[2]) != 0 || atoi(m[1]) < 20) {
		t.Errorf("kill with 2 replicas: %s answered, %s failed%s; want none failed", m[1], m[2], m[3])
	}
	if m := match(t, out, `without sticky sessions: (\d+) succeeded, (\d+) failed`); m != nil && atoi(m[2]) == 0 {
		t.Errorf("without sticky sessions %s sign-ups succeeded and none failed; want failures", m[1])
	}
	v2 := 0
	if m := match(t, out, `with sticky sessions: (\d+) succeeded, (\d+) failed \(cookie (.*)\)`); m != nil {
		if v2 = atoi(m[1]); v2 != 10 || atoi(m[2]) != 0 || m[3] == "" {
			t.Errorf("with sticky sessions %s sign-ups succeeded, %s failed, cookie %q; want 10, none and a cookie", m[1], m[2], m[3])
		}
	}
	if m := match(t, out, `signup-db holds (\d+) prospects`); m != nil && atoi(m[1]) < v2 {
		t.Errorf("signup-db holds %s prospects; want at least the %d sign-ups with sticky sessions", m[1], v2)
	}
	if m := match(t, out, `(\d+) requests answered, (\d+) failed(.*); up to (\d+) signup-web tasks ran at once`); m != nil &&
		(atoi(m[2]) != 0 || atoi(m[1]) < 20 || atoi(m[4]) <= 2) {
		t.Errorf("v3 rollout: %s answered, %s failed%s, up to %s tasks at once; want none failed, more than 2 at once (start-first)", m[1], m[2], m[3], m[4])
	}
	if m := match(t, out, `update state (\S+); previous spec back: (\S+)`); m != nil && (m[1] != api.UpdateStateRollbackCompleted || m[2] != "true") {
		t.Errorf("bad release: update state %s, previous spec back %s; want %s and true", m[1], m[2], api.UpdateStateRollbackCompleted)
	}
}

// match returns the submatches of the first line of out that matches
// expr, or reports that none does.
func match(t *testing.T, out []string, expr string) []string {
	t.Helper()
	re := regexp.MustCompile(expr)
	for _, l := range out {
		if m := re.FindStringSubmatch(l); m != nil {
			return m
		}
	}
	t.Errorf("the tour printed no line matching %q", expr)
	return nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// clusterObjects lists the cluster's stacks, services, networks, configs
// and secrets, each as a sorted list of "name id".
func clusterObjects(t *testing.T, ctx context.Context, c *client.Client) map[string][]string {
	t.Helper()
	objs := map[string][]string{}
	add := func(kind, name, id string) { objs[kind] = append(objs[kind], name+" "+id) }
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stacks := map[string]bool{}
	for _, s := range svcs {
		add("services", s.Spec.Name, s.ID)
		if ns := s.Spec.Labels[api.StackNamespaceLabel]; ns != "" {
			stacks[ns] = true
		}
	}
	objs["stacks"] = slices.Collect(maps.Keys(stacks))
	nws, err := c.NetworkList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nws {
		add("networks", n.Spec.Name, n.ID)
	}
	cfgs, err := c.ConfigList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cfgs {
		add("configs", o.Spec.Name, o.ID)
	}
	secs, err := c.SecretList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range secs {
		add("secrets", o.Spec.Name, o.ID)
	}
	for _, l := range objs {
		slices.Sort(l)
	}
	return objs
}

// singleNode is the cluster's one node.
func singleNode(t *testing.T, ctx context.Context, c *client.Client) *api.Node {
	t.Helper()
	nodes, err := c.NodeList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 {
		t.Fatalf("the cluster has %d nodes; want 1", len(nodes))
	}
	return nodes[0]
}

// stopHostCluster removes what is left on the cluster (a failed test's
// demo objects too), waits until the node removed the networks' links,
// stops it, and kills any task process it left.
func stopHostCluster(t *testing.T, c *client.Client, dev *nodeProc, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := demo.Cleanup(ctx, c); err != nil {
		t.Errorf("demo cleanup: %v", err)
	}
	removeAll(t, c)
	var vnis []uint32
	nws, _ := c.NetworkList(ctx)
	for _, n := range nws {
		if err := c.NetworkRemove(ctx, n.ID); err == nil && n.DriverState != nil {
			vnis = append(vnis, n.DriverState.VNI)
		}
	}
	if err := demo.WaitPlumbingGone(ctx, vnis); err != nil {
		t.Error(err)
	}
	dev.signal(syscall.SIGTERM)
	for _, pid := range processesUnder(dir) {
		t.Errorf("task process %d outlived the cluster", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
