package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli"
	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/shoalproject/shoal/internal/testutil/netlab"
)

// labCluster is a `shoal dev` manager and a `shoal agent` per worker,
// each in a netlab node of its own: its own network namespace (its
// overlay plumbing, its VTEP address), all on one bridge of the host.
// Containers of all nodes share the host's Docker engine; each node
// plumbs its own containers into its own namespace.
type labCluster struct {
	*agentCluster
	lab   *netlab.Lab
	nodes map[string]*netlab.Node
}

// newLabCluster starts the manager and one agent per name, with no
// HTTP ingress and no routing mesh.
func newLabCluster(t *testing.T, ctx context.Context, names ...string) *labCluster {
	t.Helper()
	return newLabClusterWith(t, ctx, []string{"--ingress", "off", "--publish-addr", "off"}, names...)
}

// newLabClusterWith is newLabCluster with the flags every node gets for
// its HTTP ingress and routing mesh.
func newLabClusterWith(t *testing.T, ctx context.Context, edge []string, names ...string) *labCluster {
	t.Helper()
	testutil.RequireDocker(t)
	lab := netlab.New(t) // root, or skip; its cleanup runs after the nodes'
	lc := &labCluster{lab: lab, nodes: map[string]*netlab.Node{},
		agentCluster: &agentCluster{t: t, devDir: t.TempDir(), agentsDir: t.TempDir(), agents: map[string]*agentNode{}}}
	m := lab.AddNode("manager")
	lc.nodes["manager"] = m
	host := m.Addr.String()
	cmd := exec.Command(shoalBin, append([]string{"dev", "--data-dir", lc.devDir, "--log-level", "warn",
		"--addr", host, "--listen-agents", host + ":0", "--heartbeat", "2s", "--drain-delay", "100ms"}, edge...)...)
	lc.dev, _ = startNodeWith(t, "shoal dev", lc.devDir, "cluster ready", cmd, func() error { return m.Start(cmd) })
	var err error
	if lc.c, err = client.New("unix://" + filepath.Join(lc.devDir, "shoal.sock")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lc.stopAll)
	sw, err := lc.c.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lc.agentAddr, lc.token = sw.AgentAddr, sw.JoinTokens.Worker
	for _, name := range names {
		lc.addAgent(name, edge)
	}
	return lc
}

// addAgent starts a worker in a new lab node called name, and waits
// until it joined.
func (lc *labCluster) addAgent(name string, edge []string) {
	n := lc.lab.AddNode(name)
	lc.nodes[name] = n
	dir := filepath.Join(lc.agentsDir, name)
	cmd := exec.Command(shoalBin, append([]string{"agent", "--manager", lc.agentAddr, "--token", lc.token, "--addr", n.Addr.String(),
		"--data-dir", dir, "--hostname", name, "--drain-delay", "100ms", "--log-level", "warn"}, edge...)...)
	p, lines := startNodeWith(lc.t, "shoal agent "+name, dir, "address:", cmd, func() error { return n.Start(cmd) })
	id := strings.Fields(strings.TrimPrefix(lines[0], "shoal agent: node "))[0]
	lc.agents[name] = &agentNode{nodeProc: p, addr: n.Addr.String(), id: id}
}

// shoalAt runs the shoal CLI against the manager.
func (lc *labCluster) shoal(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	host := "unix://" + filepath.Join(lc.devDir, "shoal.sock")
	code := cli.Execute(context.Background(), append([]string{"--host", host}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// plumbing lists what shoal's networking holds in the node: links other
// than the lab's, nftables tables.
func (lc *labCluster) plumbing(name string) string {
	t := lc.t
	t.Helper()
	n := lc.nodes[name]
	ls, err := n.Links()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := n.Tables()
	if err != nil {
		t.Fatal(err)
	}
	ls = slices.DeleteFunc(ls, func(l string) bool { return l == "lo" || l == "eth0" })
	return strings.Join(append(ls, ts...), " ")
}

// Containers of four nodes (three workers and the manager), on one
// overlay network, reach each other across nodes: by service name through
// the virtual IP, by tasks.NAME and by a dnsrr name, over VXLAN between
// the nodes' namespaces; a service on another network cannot resolve
// their names; and once the stack is gone no node holds any of its
// plumbing.
func TestOverlayAcrossNodes(t *testing.T) {
	ctx := ctxTimeout(t, 240*time.Second)
	lc := newLabCluster(t, ctx, "n1", "n2", "n3")
	dc := testutil.DockerClient(t)
	// No health check: on a loaded machine a slow check would replace a
	// container under the test; the requests below retry until the app
	// answers.
	image := testutil.BuildImage(t, "shoal-e2e/app-nocheck:1", testutil.TestAppDir(), "")
	t.Setenv("APP_IMAGE", image)
	for i := 1; i <= 3; i++ {
		t.Setenv(fmt.Sprintf("NODE%d", i), fmt.Sprintf("n%d", i))
	}
	if out, errOut, code := lc.shoal("stack", "deploy", "-c", filepath.Join("testdata", "net-nodes.yml"), "ov"); code != 0 {
		t.Fatalf("stack deploy: exit %d\n%s\n%s", code, out, errOut)
	}
	c := lc.c
	on := func(svc, node string, n int) []*api.Task {
		ts := waitTasks(t, ctx, c, svc, fmt.Sprintf("%d %s", n, svc), nRunning(n))
		for _, tk := range running(ts) {
			if tk.NodeID != lc.agents[node].id {
				t.Fatalf("task %s of %s runs on node %s, want %s (%s)", tk.ID, svc, tk.NodeID, node, lc.agents[node].id)
			}
		}
		return running(ts)
	}
	as, bs, cs, xs := on("ov_a", "n1", 1), on("ov_b", "n2", 2), on("ov_c", "n3", 1), on("ov_x", "n2", 1)
	ms := waitTasks(t, ctx, c, "ov_m", "1 m", nRunning(1))
	bAddrs, cAddrs := addrsOn(bs, "ov_appnet"), addrsOn(cs, "ov_appnet")
	bVIP := vipOn(t, c, "ov_b", "ov_appnet")
	a, cc, x := as[0].Status.RuntimeID, cs[0].Status.RuntimeID, xs[0].Status.RuntimeID

	// Names, from a (node 1).
	for name, want := range map[string][]string{"b": {bVIP}, "ov_b": {bVIP}, "tasks.b": bAddrs, "c": cAddrs, "tasks.c": cAddrs} {
		if got, code := execIn(t, dc, a, "/app", "resolve", "--wait", "10s", name); code != 0 || got != strings.Join(want, "\n") {
			t.Errorf("from a, %s resolves to %q (exit %d), want %q", name, got, code, want)
		}
	}
	// Node 1 to node 2 through b's VIP, balanced over both of b's tasks.
	seen := map[string]bool{}
	for i := 0; i < 20 && len(seen) < 2; i++ {
		got, code := execIn(t, dc, a, "/app", "get", "--wait", "15s", "http://b:8080/")
		if code != 0 || !strings.Contains(got, "ov_b") {
			t.Fatalf("from a, GET http://b:8080/ = %q (exit %d), want an answer of a task of ov_b", got, code)
		}
		seen[taskIDIn(got)] = true
	}
	if len(seen) != 2 {
		t.Errorf("requests to b's VIP reached tasks %v, want both of b's tasks", seen)
	}
	if got, code := execIn(t, dc, a, "/app", "get", "--wait", "10s", "http://"+bVIP+":8080/"); code != 0 || !strings.Contains(got, "ov_b") {
		t.Errorf("from a, GET b's VIP %s = %q (exit %d)", bVIP, got, code)
	}
	// Node 1 to node 3 by a dnsrr name (the task's own address), node 3
	// to node 1 by name, and node 3 to node 2 by a task's address.
	if got, code := execIn(t, dc, a, "/app", "get", "--wait", "10s", "http://c:8080/"); code != 0 || !strings.Contains(got, "ov_c") {
		t.Errorf("from a, GET http://c:8080/ = %q (exit %d)", got, code)
	}
	if got, code := execIn(t, dc, cc, "/app", "get", "--wait", "10s", "http://a:8080/"); code != 0 || !strings.Contains(got, "ov_a") {
		t.Errorf("from c, GET http://a:8080/ = %q (exit %d)", got, code)
	}
	if got, code := execIn(t, dc, cc, "/app", "get", "--wait", "10s", "http://"+bAddrs[0]+":8080/"); code != 0 || !strings.Contains(got, "ov_b") {
		t.Errorf("from c, GET %s = %q (exit %d)", bAddrs[0], got, code)
	}
	// The manager's own container, to and from a worker's.
	m := running(ms)[0].Status.RuntimeID
	if got, code := execIn(t, dc, a, "/app", "get", "--wait", "10s", "http://m:8080/"); code != 0 || !strings.Contains(got, "ov_m") {
		t.Errorf("from a, GET http://m:8080/ (the manager's task) = %q (exit %d)", got, code)
	}
	if got, code := execIn(t, dc, m, "/app", "get", "--wait", "10s", "http://b:8080/"); code != 0 || !strings.Contains(got, "ov_b") {
		t.Errorf("from m (on the manager), GET http://b:8080/ = %q (exit %d)", got, code)
	}
	// x shares no network with them, though it runs beside b.
	for _, name := range []string{"b", "tasks.b", "a", "m"} {
		if got, code := execIn(t, dc, x, "/app", "resolve", name); code == 0 {
			t.Errorf("from x, %s resolves to %q; want no such host (no shared network)", name, got)
		}
	}

	// Node 1's VXLAN device sends exactly the remote tasks of appnet to
	// their nodes: b's two on n2, c on n3, m on the manager; a task that
	// leaves leaves it.
	vteps := map[string]string{}
	for name, n := range lc.nodes {
		if name == "manager" {
			vteps[lc.devID()] = n.Addr.String()
		} else {
			vteps[lc.agents[name].id] = n.Addr.String()
		}
	}
	remote := func(ts ...[]*api.Task) []string {
		var out []string
		for _, tk := range slices.Concat(ts...) {
			for _, na := range tk.NetworksAttachments {
				if na.Network.Name == "ov_appnet" {
					out = append(out, macOf(na.Addresses[0])+" "+vteps[tk.NodeID])
				}
			}
		}
		slices.Sort(out)
		return out
	}
	lc.waitFDB("n1", remote(bs, cs, ms))
	if out, errOut, code := lc.shoal("service", "scale", "ov_b=1"); code != 0 {
		t.Fatalf("scale b: exit %d\n%s\n%s", code, out, errOut)
	}
	bs = running(waitTasks(t, ctx, c, "ov_b", "1 b", nRunning(1)))
	lc.waitFDB("n1", remote(bs, cs, ms))

	if out, errOut, code := lc.shoal("stack", "rm", "ov"); code != 0 {
		t.Fatalf("stack rm: exit %d\n%s\n%s", code, out, errOut)
	}
	waitTasks(t, ctx, c, "", "all tasks gone", func(ts []*api.Task) bool { return len(ts) == 0 })
	for name := range lc.nodes {
		deadline := time.Now().Add(10 * time.Second)
		for lc.plumbing(name) != "" && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if got := lc.plumbing(name); got != "" {
			t.Errorf("node %s still holds %s after stack rm", name, got)
		}
	}
}

// devID is the manager's node ID.
func (lc *labCluster) devID() string {
	lc.t.Helper()
	info, err := lc.c.Info(context.Background())
	if err != nil {
		lc.t.Fatal(err)
	}
	return info.NodeID
}

// macOf is the MAC of a task address ("10.0.0.3/24"): 02:42 and its bytes.
func macOf(addr string) string {
	p := netip.MustParsePrefix(addr).Addr().As4()
	return net.HardwareAddr{0x02, 0x42, p[0], p[1], p[2], p[3]}.String()
}

// fdb lists the VXLAN forwarding entries of the node: "MAC VTEP".
func (lc *labCluster) fdb(name string) []string {
	t := lc.t
	t.Helper()
	h, err := lc.nodes[name].Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ls, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		if !strings.HasPrefix(l.Attrs().Name, "shvx-") {
			continue
		}
		es, err := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.IP != nil && e.Flags&netlink.NTF_SELF != 0 && !e.IP.IsUnspecified() {
				out = append(out, e.HardwareAddr.String()+" "+e.IP.String())
			}
		}
	}
	slices.Sort(out)
	return out
}

// waitFDB waits until the node's VXLAN forwarding entries are want.
func (lc *labCluster) waitFDB(name string, want []string) {
	t := lc.t
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(lc.fdb(name), want) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := lc.fdb(name); !slices.Equal(got, want) {
		t.Errorf("node %s's VXLAN device sends %q, want %q", name, got, want)
	}
}
