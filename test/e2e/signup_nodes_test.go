package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	mobyclient "github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/shoalproject/shoal/internal/testutil/netlab"
)

// The seed's signup-style stack runs across three worker nodes with both
// runtimes in one deploy (web, db and udp one runtime, api, handler and
// proxy the other), then again with the runtimes swapped (not under
// -short): web reaches api and db by name across nodes, called through
// its published port on every node; handler, on the backend network
// only, reaches db, which proxy, on the frontend network only, cannot
// resolve; the published TCP ports of web and api, the UDP port of udp
// and the HTTP ingress answer on every node, the manager's included,
// whether or not it runs a task of the service; and after stack rm no
// node holds any of its plumbing.
func TestSignupStackAcrossNodes(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		skipOrFail(t, "no nsenter: %v", err)
	}
	ctx := ctxTimeout(t, 150*time.Second)
	lc := newLabClusterWith(t, ctx, []string{"--ingress", ":" + labIngressPort, "--publish-addr", "0.0.0.0"}, "n1", "n2", "n3")
	for _, name := range []string{"n1", "n2", "n3"} {
		if err := lc.lab.HostsDocker(lc.nodes[name]); err != nil {
			t.Fatal(err)
		}
	}
	// The clients: the host holds the workers' addresses for Docker.
	client := lc.lab.AddNode("client")
	image := testutil.BuildImage(t, "shoal-e2e/app-nocheck:1", testutil.TestAppDir(), "")
	for i := 1; i <= 3; i++ {
		t.Setenv(fmt.Sprintf("NODE%d", i), fmt.Sprintf("n%d", i))
	}
	process, container := [2]string{"", testApp}, [2]string{image, "/app"}
	lc.signup(ctx, client, "processes for web, db, udp", process, container)
	if testing.Short() {
		return
	}
	lc.signup(ctx, client, "containers for web, db, udp", container, process)
}

// labIngressPort is where the HTTP ingress of every lab node listens.
const labIngressPort = "8000"

// signup deploys testdata/signup-nodes.yml with group P run as p and
// group C as c (image, program), checks it and removes it.
func (lc *labCluster) signup(ctx context.Context, client *netlab.Node, what string, p, c [2]string) {
	t := lc.t
	t.Helper()
	t.Setenv("P_IMAGE", p[0])
	t.Setenv("P_BIN", p[1])
	t.Setenv("C_IMAGE", c[0])
	t.Setenv("C_BIN", c[1])
	before := map[string]string{}
	for name := range lc.nodes {
		before[name] = lc.stackPlumbing(name)
	}
	start := time.Now()
	if out, errOut, code := lc.shoal("stack", "deploy", "-d", "-c", filepath.Join("testdata", "signup-nodes.yml"), "signup"); code != 0 {
		t.Fatalf("%s: stack deploy: exit %d\n%s\n%s", what, code, out, errOut)
	}
	nodeOf := map[string]string{}
	for name, a := range lc.agents {
		nodeOf[a.id] = name
	}
	tasks := map[string]*api.Task{}
	for svc, node := range map[string]string{"web": "n1", "api": "n2", "db": "n3", "handler": "n3", "proxy": "n2", "udp": "n2"} {
		tk := running(waitTasks(t, ctx, lc.c, "signup_"+svc, what+": 1 "+svc, nRunning(1)))[0]
		if nodeOf[tk.NodeID] != node {
			t.Fatalf("%s: %s runs on node %q, want %s", what, svc, nodeOf[tk.NodeID], node)
		}
		tasks[svc] = tk
		lc.publishContainerPorts(ctx, tk, node)
	}
	t.Logf("%s: deployed and running in %v", what, time.Since(start).Round(time.Millisecond))
	dbVIP := vipOn(t, lc.c, "signup_db", "signup_backend")
	published := func(svc string) string {
		s, err := lc.c.ServiceInspect(ctx, "signup_"+svc)
		if err != nil || s.Endpoint == nil || len(s.Endpoint.Ports) == 0 {
			t.Fatalf("%s: %s's endpoint %+v: %v", what, svc, s, err)
		}
		return strconv.Itoa(int(s.Endpoint.Ports[0].PublishedPort))
	}
	webPort, apiPort, udpPort := published("web"), published("api"), published("udp")
	hc := httpFrom(client)

	// Every node, the manager (no task at all) and n3 (none of web's
	// networks' publishers) included, answers the published ports and
	// the HTTP ingress.
	for name, n := range lc.nodes {
		addr := n.Addr.String()
		if got := askHTTPWith(t, hc, net.JoinHostPort(addr, webPort)); got != tasks["web"].ID {
			t.Errorf("%s: web's port %s on node %s answered by %q, want web's task %s", what, webPort, name, got, tasks["web"].ID)
		}
		if got := askHTTPWith(t, hc, net.JoinHostPort(addr, apiPort)); got != tasks["api"].ID {
			t.Errorf("%s: api's port %s on node %s answered by %q, want api's task %s", what, apiPort, name, got, tasks["api"].ID)
		}
		if got, want := askUDPFrom(t, client, net.JoinHostPort(addr, udpPort), "ping"), tasks["udp"].ID+":ping"; got != want {
			t.Errorf("%s: udp's UDP port %s on node %s answered %q, want %q", what, udpPort, name, got, want)
		}
		if got := askHTTPWith(t, hc, net.JoinHostPort(addr, labIngressPort)); got != tasks["web"].ID {
			t.Errorf("%s: the HTTP ingress of node %s answered by %q, want web's task", what, name, got)
		}
		// Client → this node's published port → web (n1) → api (n2)
		// and db (n3) by name over the backend network.
		for svc, peer := range map[string]string{"api": "n2", "db": "n3"} {
			if got := callVia(t, hc, net.JoinHostPort(addr, webPort), "http://"+svc+":8080/"); taskIDIn(got) != tasks[svc].ID {
				t.Errorf("%s: web, called on node %s, GET http://%s:8080/ (on %s): %q, want %s's task", what, name, svc, peer, got, svc)
			}
		}
	}
	// handler (backend only) reaches db; proxy (frontend only) cannot
	// resolve it, though it shares a network with web.
	if got, code := lc.run(tasks["handler"], "resolve", "--wait", "10s", "db"); code != 0 || got != dbVIP {
		t.Errorf("%s: from handler, db resolves to %q (exit %d), want db's VIP %s", what, got, code, dbVIP)
	}
	if got, code := lc.run(tasks["handler"], "get", "--wait", "10s", "http://db:8080/"); code != 0 || taskIDIn(got) != tasks["db"].ID {
		t.Errorf("%s: from handler, GET http://db:8080/ = %q (exit %d)", what, got, code)
	}
	if got, code := lc.run(tasks["proxy"], "resolve", "db"); code == 0 {
		t.Errorf("%s: from proxy (frontend only), db resolves to %q; want no such host", what, got)
	}
	if got, code := lc.run(tasks["proxy"], "get", "--wait", "10s", "http://web:8080/"); code != 0 || taskIDIn(got) != tasks["web"].ID {
		t.Errorf("%s: from proxy, GET http://web:8080/ = %q (exit %d)", what, got, code)
	}
	t.Logf("%s: checked in %v", what, time.Since(start).Round(time.Millisecond))

	if out, errOut, code := lc.shoal("stack", "rm", "signup"); code != 0 {
		t.Fatalf("%s: stack rm: exit %d\n%s\n%s", what, code, out, errOut)
	}
	waitTasks(t, ctx, lc.c, "", what+": all tasks gone", func(ts []*api.Task) bool { return len(ts) == 0 })
	for name := range lc.nodes {
		deadline := time.Now().Add(10 * time.Second)
		for lc.stackPlumbing(name) != before[name] && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if got := lc.stackPlumbing(name); got != before[name] {
			t.Errorf("%s: node %s holds %q after stack rm, want %q as before", what, name, got, before[name])
		}
	}
	t.Logf("%s: removed in %v", what, time.Since(start).Round(time.Millisecond))
}

// stackPlumbing is plumbing without the test's own table (ForwardToHost).
func (lc *labCluster) stackPlumbing(name string) string {
	return strings.TrimSpace(strings.ReplaceAll(lc.plumbing(name), "ip netlab-docker", ""))
}

// publishContainerPorts makes the host ports a container's node reports
// answer on that node's address, as its engine's port mapping would on a
// real node: the lab's nodes share the host's Docker engine (netlab's
// ForwardToContainer).
func (lc *labCluster) publishContainerPorts(ctx context.Context, tk *api.Task, node string) {
	t := lc.t
	t.Helper()
	if tk.Spec.ContainerSpec.Image == "" {
		return
	}
	info, err := testutil.DockerClient(t).ContainerInspect(ctx, tk.Status.RuntimeID, mobyclient.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bridge := info.Container.NetworkSettings.Networks["bridge"]
	if bridge == nil {
		t.Fatalf("container %s is not on Docker's bridge: %+v", tk.ID, info.Container.NetworkSettings.Networks)
	}
	ip, ok := netip.AddrFromSlice(net.ParseIP(fmt.Sprint(bridge.IPAddress)).To4())
	if !ok {
		t.Fatalf("container %s's address on Docker's bridge: %v", tk.ID, bridge.IPAddress)
	}
	n := lc.nodes[node]
	for _, ep := range tk.Endpoints {
		host, p, err := net.SplitHostPort(ep.Addr)
		port, perr := strconv.ParseUint(p, 10, 16)
		if err != nil || perr != nil || host != n.Addr.String() {
			t.Fatalf("container %s's endpoint %q: want one on its node's address %s", tk.ID, ep.Addr, n.Addr)
		}
		if err := n.ForwardToContainer(ep.Protocol, uint16(port), netip.AddrPortFrom(ip, uint16(ep.TargetPort))); err != nil {
			t.Fatal(err)
		}
	}
}

// httpFrom is an HTTP client that connects from the node.
func httpFrom(n *netlab.Node) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return n.Dial(network, addr, 5*time.Second)
		}}}
}

// askUDPFrom is askUDP from the node.
func askUDPFrom(t *testing.T, n *netlab.Node, addr, msg string) string {
	t.Helper()
	c, err := n.Dial("udp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return askUDPOn(t, c, msg)
}

// run runs the testapp with args in the task: docker exec for a
// container, nsenter for a process.
func (lc *labCluster) run(tk *api.Task, args ...string) (string, int) {
	lc.t.Helper()
	if tk.Spec.ContainerSpec.Image == "" {
		return inTask(lc.t, tk, args...)
	}
	return execIn(lc.t, testutil.DockerClient(lc.t), tk.Status.RuntimeID, append([]string{"/app"}, args...)...)
}

// callVia asks the testapp at addr to GET target (/call), retrying for
// a while, and returns the body of a 200 answer (or the last error).
func callVia(t *testing.T, hc *http.Client, addr, target string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get("http://" + addr + "/call?url=" + url.QueryEscape(target))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		if time.Now().After(deadline) {
			return err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
}
