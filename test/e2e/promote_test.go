package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli"
)

// shoalAt runs the CLI against the API socket of the node whose data
// folder is dir.
func shoalAt(dir string, args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := cli.Execute(context.Background(), append([]string{"--host", "unix://" + filepath.Join(dir, "shoal.sock")}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// startWorker starts `shoal agent` on ip with its data folder
// root/name, hostname name, joined to the manager at managerAddr with
// token; it is stopped, and every process under root killed, when the
// test ends. It returns the process, the node's ID and the arguments
// that start it again.
func startWorker(t *testing.T, root, name, managerAddr, token, ip string, extra ...string) (*nodeProc, string, []string) {
	t.Helper()
	dir := filepath.Join(root, name)
	args := append([]string{"agent", "--manager", managerAddr, "--token", token, "--addr", ip, "--data-dir", dir, "--hostname", name,
		"--ingress", "off", "--publish-addr", "off", "--docker=false", "--log-level", "error"}, extra...)
	p, lines := startNodeProc(t, "shoal agent "+name, dir, "joined (worker)", args...)
	return p, strings.Fields(strings.TrimPrefix(lines[0], "shoal agent: node "))[0], args
}

// killUnder kills every process under root when the test ends: the
// tasks the nodes left running.
func killUnder(t *testing.T, root string) {
	t.Cleanup(func() {
		for _, pid := range processesUnder(root) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// waitLine waits for a line of p that contains s.
func waitLine(t *testing.T, ctx context.Context, p *nodeProc, s string) {
	t.Helper()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s exited before printing %q", p.name, s)
			}
			if strings.Contains(l, s) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%s never printed %q", p.name, s)
		}
	}
}

// One `shoal manager` and two `shoal agent` workers started with
// --listen-addr: `node promote` turns each worker's process into a
// manager (its agent keeps its task running), which answers API writes
// and `node ls` as any manager; with both promoted, the cluster has 3
// voters and takes writes after the first manager is SIGKILLed, and the
// dead manager can be demoted.
func TestPromotedWorkersKeepTheQuorum(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	root := t.TempDir()
	m1 := startManager(t, filepath.Join(root, "m1"), freePort(t, "127.0.0.31"))
	t.Cleanup(func() { m1.signal(syscall.SIGTERM) })
	sw, err := m1.c.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killUnder(t, root)
	workers := map[string]*nodeProc{}
	ids := map[string]string{}
	args := map[string][]string{}
	for _, w := range []struct{ name, ip string }{{"w1", "127.0.0.32"}, {"w2", "127.0.0.33"}} {
		workers[w.name], ids[w.name], args[w.name] = startWorker(t, root, w.name, m1.addr, sw.JoinTokens.Worker, w.ip, "--listen-addr", freePort(t, w.ip))
		t.Cleanup(func() { workers[w.name].signal(syscall.SIGTERM) })
	}
	spec := processSpec("steady", 1, "sleep", "3600")
	spec.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.hostname==w1"}}
	svc, err := m1.c.ServiceCreate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	task := running(waitTasks(t, ctx, m1.c, svc.ID, "the task running on w1", nRunning(1)))[0]
	pid := pidOf(t, task)

	// Promote w1 through the first manager; its process becomes a manager.
	start := time.Now()
	out, errOut, code := shoalAt(m1.dataDir, "node", "promote", ids["w1"])
	if code != 0 || !strings.Contains(out, "promoted to a manager in the swarm") {
		t.Fatalf("node promote: %d %q %q", code, out, errOut)
	}
	waitLine(t, ctx, workers["w1"], "is a manager")
	t.Logf("promote to a manager serving: %v", time.Since(start))
	c1, err := client.New("unix://" + filepath.Join(root, "w1", "shoal.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.ConfigCreate(ctx, api.ConfigSpec{Name: "via-w1", Data: []byte("x")}); err != nil {
		t.Fatalf("a write through the promoted manager: %v", err)
	}
	waitCluster(t, ctx, c1, "2 managers ready on w1's view", func(nodes map[string]*api.Node, _ []*api.Task) bool {
		n := nodes[ids["w1"]]
		return n != nil && n.Spec.Role == api.RoleManager && n.Status.State == api.NodeStateReady
	})
	out, _, _ = shoalAt(filepath.Join(root, "w1"), "node", "ls")
	if !strings.Contains(out, "Leader") || !strings.Contains(out, "Reachable") {
		t.Errorf("node ls on the promoted manager:\n%s", out)
	}
	// Already a manager: docker's message, exit 0.
	if out, _, code := shoalAt(m1.dataDir, "node", "promote", ids["w1"]); code != 0 || !strings.Contains(out, "is already a manager") {
		t.Errorf("promote a manager again: %d %q", code, out)
	}

	// Promote w2 through w1 (a write w1 forwards to the leader).
	if out, errOut, code := shoalAt(filepath.Join(root, "w1"), "node", "promote", ids["w2"]); code != 0 {
		t.Fatalf("node promote through w1: %d %q %q", code, out, errOut)
	}
	waitLine(t, ctx, workers["w2"], "is a manager")

	// Three voters: the cluster takes writes with the first manager dead.
	m1.signal(syscall.SIGKILL)
	killed := time.Now()
	for n := 0; ; n++ {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c1.ConfigCreate(wctx, api.ConfigSpec{Name: fmt.Sprintf("after-kill-%d", n), Data: []byte("x")})
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no write acknowledged after the first manager was killed: %v", err)
		}
		t.Logf("write %d after the kill: %v", n, err)
	}
	t.Logf("first manager killed to the first acknowledged write: %v", time.Since(killed))
	if !runs(pid) {
		t.Errorf("the task on w1 (pid %d) stopped", pid)
	}
	// The dead manager is demoted (2 of the 2 left are up).
	waitCluster(t, ctx, c1, "the first manager down", func(nodes map[string]*api.Node, _ []*api.Task) bool {
		for _, n := range nodes {
			if n.Spec.Role == api.RoleManager && n.Status.State == api.NodeStateDown {
				return true
			}
		}
		return false
	})
	var m1ID string
	for _, n := range mustNodes(t, ctx, c1) {
		if n.Spec.Role == api.RoleManager && n.Status.State == api.NodeStateDown {
			m1ID = n.ID
		}
	}
	if out, errOut, code := shoalAt(filepath.Join(root, "w2"), "node", "demote", m1ID); code != 0 {
		t.Fatalf("demote the dead manager: %d %q %q", code, out, errOut)
	}
	// A promoted node restarted with the same command runs its manager
	// from its data folder, and its task is adopted.
	workers["w1"].signal(syscall.SIGTERM)
	workers["w1"], _ = startNodeProc(t, "shoal agent w1 (restarted)", filepath.Join(root, "w1"), "is a manager", args["w1"]...)
	if _, err := c1.ConfigCreate(ctx, api.ConfigSpec{Name: "after-restart", Data: []byte("x")}); err != nil {
		t.Fatalf("a write through the restarted promoted manager: %v", err)
	}
	if !runs(pid) {
		t.Errorf("the task on w1 (pid %d) stopped with the restart", pid)
	}
	if err := c1.ServiceRemove(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
}

func mustNodes(t *testing.T, ctx context.Context, c *client.Client) []*api.Node {
	t.Helper()
	ns, err := c.NodeList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// `shoal swarm leave` on a worker's socket: the agent process stops its
// task and exits 0, and its node goes down; a manager refuses to leave
// without --force (exit 1, Swarm's warning).
func TestWorkerLeavesTheSwarm(t *testing.T) {
	ctx := ctxTimeout(t, 2*time.Minute)
	root := t.TempDir()
	m1 := startManager(t, filepath.Join(root, "m1"), freePort(t, "127.0.0.34"))
	t.Cleanup(func() { m1.signal(syscall.SIGTERM) })
	sw, err := m1.c.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	killUnder(t, root)
	dir := filepath.Join(root, "w")
	w, id, _ := startWorker(t, root, "w", m1.addr, sw.JoinTokens.Worker, "127.0.0.35")
	t.Cleanup(func() { w.signal(syscall.SIGTERM) })
	spec := processSpec("steady", 1, "sleep", "3600")
	spec.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.hostname==w"}}
	svc, err := m1.c.ServiceCreate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	pid := pidOf(t, running(waitTasks(t, ctx, m1.c, svc.ID, "the task running on w", nRunning(1)))[0])

	if out, errOut, code := shoalAt(m1.dataDir, "swarm", "leave"); code != 1 || !strings.Contains(errOut, "participating as a manager") {
		t.Errorf("swarm leave on the manager: %d %q %q", code, out, errOut)
	}
	out, errOut, code := shoalAt(dir, "swarm", "leave")
	if code != 0 || strings.TrimSpace(out) != "Node left the swarm." {
		t.Fatalf("swarm leave on the worker: %d %q %q", code, out, errOut)
	}
	waitLine(t, ctx, w, "left the swarm")
	select {
	case <-w.exited:
	case <-ctx.Done():
		t.Fatal("the agent did not exit")
	}
	if c := w.cmd.ProcessState.ExitCode(); c != 0 {
		t.Errorf("the agent exited %d, want 0", c)
	}
	w.stopped = true
	if runs(pid) {
		t.Errorf("the task (pid %d) still runs", pid)
	}
	waitCluster(t, ctx, m1.c, "the worker down", func(nodes map[string]*api.Node, _ []*api.Task) bool {
		n := nodes[id]
		return n != nil && n.Status.State == api.NodeStateDown
	})
}
