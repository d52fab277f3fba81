package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// cli runs the shoal CLI against the cluster's manager and returns its
// output and exit code.
func (ac *agentCluster) cli(args ...string) (stdout, stderr string, code int) {
	ac.t.Helper()
	cmd := exec.Command(shoalBin, append([]string{"--host", "unix://" + filepath.Join(ac.devDir, "shoal.sock")}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		ac.t.Fatalf("run shoal %q: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// mustCLI is cli that fails the test unless the command succeeds.
func (ac *agentCluster) mustCLI(args ...string) string {
	ac.t.Helper()
	out, errOut, code := ac.cli(args...)
	if code != 0 {
		ac.t.Fatalf("shoal %q: exit %d: %s", args, code, errOut)
	}
	return out
}

// runningOf returns the running tasks of service.
func runningOf(ts []*api.Task, service string) []*api.Task {
	var out []*api.Task
	for _, t := range running(ts) {
		if t.ServiceID == service {
			out = append(out, t)
		}
	}
	return out
}

// TestNodeLifecycle drives `node update` and `node rm` on a manager and
// two agents as a user would: operator labels place tasks, drain moves a
// start-first service's tasks with no loss of running tasks, pause keeps
// tasks and takes no new ones, a global service follows drain and
// active, and node rm removes a down node, and with --force an up one
// whose agent then stops its tasks.
func TestNodeLifecycle(t *testing.T) {
	ctx := ctxTimeout(t, 5*time.Minute)
	ac, _ := newAgentCluster(t, ctx)
	// agent-a says of itself zone=b, agent-b zone=a: engine labels, not
	// the operator's node labels.
	a := ac.startAgent("agent-a", "127.0.0.2", "-l", "zone=b")
	b := ac.startAgent("agent-b", "127.0.0.3", "-l", "zone=a")

	// Operator labels place tasks; the agents' own labels don't count.
	if out := ac.mustCLI("node", "update", "--label-add", "zone=a", "agent-a"); out != "agent-a\n" {
		t.Errorf("node update printed %q", out)
	}
	if out := ac.mustCLI("node", "inspect", "-f", "{{.Spec.Labels.zone}} {{index .Description.Engine.Labels \"zone\"}}", "agent-b"); out != "<no value> a\n" {
		t.Errorf("agent-b labels: %q, want no operator label and engine label zone=a", out)
	}
	za := processSpec("za", 3, "sleep", "300")
	za.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.labels.zone==a"}}
	svc, err := ac.c.ServiceCreate(ctx, za)
	if err != nil {
		t.Fatal(err)
	}
	ts := waitTasks(t, ctx, ac.c, "za", "3 running", nRunning(3))
	if got := byNode(running(ts)); got[a.id] != 3 {
		t.Fatalf("za tasks per node %v, want all 3 on agent-a (node.labels.zone==a)", got)
	}
	if err := ac.c.ServiceRemove(ctx, svc.ID); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, ctx, ac.c, "za's tasks gone", func(_ map[string]*api.Node, ts []*api.Task) bool { return len(live(tasksOf(ts, svc.ID))) == 0 })

	// A start-first service on agent-a (agent-b paused, so it takes no
	// new task) moves to agent-b when agent-a is drained, never with
	// fewer than 2 tasks running.
	ac.mustCLI("node", "update", "--availability", "pause", "agent-b")
	webSpec := processSpec("web", 2, "sleep", "300")
	webSpec.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.role==worker"}}
	webSpec.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Order: api.UpdateOrderStartFirst}
	web, err := ac.c.ServiceCreate(ctx, webSpec)
	if err != nil {
		t.Fatal(err)
	}
	ts = waitTasks(t, ctx, ac.c, "web", "2 running", nRunning(2))
	if got := byNode(running(ts)); got[a.id] != 2 {
		t.Fatalf("web tasks per node %v, want both on agent-a (agent-b paused)", got)
	}
	ac.mustCLI("node", "update", "--availability", "active", "agent-b")
	ac.mustCLI("node", "update", "--availability", "drain", "agent-a")
	fewest := 2
	ts = waitCluster(t, ctx, ac.c, "web moved to agent-b", func(_ map[string]*api.Node, ts []*api.Task) bool {
		r := runningOf(ts, web.ID)
		fewest = min(fewest, len(r))
		return len(r) == 2 && byNode(r)[b.id] == 2 && len(live(tasksOf(ts, web.ID))) == 2
	})
	if fewest < 2 {
		t.Errorf("during the drain only %d web tasks ran, want 2 throughout (start-first)", fewest)
	}

	// Paused: agent-b keeps its tasks and takes no new ones; agent-a,
	// active again, gets the new ones and nothing moves back.
	ac.mustCLI("node", "update", "--availability", "pause", "agent-b")
	ac.mustCLI("service", "scale", "-d", "web=4")
	ac.mustCLI("node", "update", "--availability", "active", "agent-a")
	ts = waitCluster(t, ctx, ac.c, "web 4 running", func(_ map[string]*api.Node, ts []*api.Task) bool {
		return len(runningOf(ts, web.ID)) == 4
	})
	if got := byNode(runningOf(ts, web.ID)); got[a.id] != 2 || got[b.id] != 2 {
		t.Fatalf("web per node %v, want agent-b's 2 kept and 2 new on agent-a", got)
	}

	// A global service follows drain and active.
	ac.mustCLI("node", "update", "--availability", "active", "agent-b")
	g := processSpec("g", 0, "sleep", "300")
	g.Mode = api.ServiceMode{Global: &api.GlobalService{}}
	g.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.role==worker"}}
	gs, err := ac.c.ServiceCreate(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	globalOn := func(want map[string]int) func(map[string]*api.Node, []*api.Task) bool {
		return func(_ map[string]*api.Node, ts []*api.Task) bool {
			got := byNode(live(tasksOf(ts, gs.ID)))
			r := byNode(runningOf(ts, gs.ID))
			return got[a.id] == want[a.id] && got[b.id] == want[b.id] && r[a.id] == want[a.id] && r[b.id] == want[b.id]
		}
	}
	waitCluster(t, ctx, ac.c, "g on both agents", globalOn(map[string]int{a.id: 1, b.id: 1}))
	ac.mustCLI("node", "update", "--availability", "drain", "agent-a")
	onlyB := globalOn(map[string]int{b.id: 1})
	waitCluster(t, ctx, ac.c, "g only on agent-b, web's 4 there too", func(nodes map[string]*api.Node, ts []*api.Task) bool {
		return onlyB(nodes, ts) && byNode(runningOf(ts, web.ID))[b.id] == 4 && len(live(tasksOf(ts, web.ID))) == 4
	})
	ac.mustCLI("node", "update", "--availability", "active", "agent-a")
	ts = waitCluster(t, ctx, ac.c, "g back on agent-a", globalOn(map[string]int{a.id: 1, b.id: 1}))

	// node rm of a node that is up: refused without --force.
	_, errOut, code := ac.cli("node", "rm", "agent-b")
	if code != 1 || !strings.Contains(errOut, "node agent-b is not down and can't be removed") {
		t.Fatalf("node rm of a ready node: exit %d, %q; want exit 1 saying it is not down", code, errOut)
	}
	// With --force: agent-b's agent is refused and stops its tasks; they
	// run again on agent-a.
	var bPids []int
	for _, tk := range running(ts) {
		if tk.NodeID == b.id {
			bPids = append(bPids, pidOf(t, tk))
		}
	}
	// (agent-a's drain for g moved web's other two tasks to agent-b;
	// nothing moved back.)
	if len(bPids) != 5 {
		t.Fatalf("%d tasks running on agent-b, want 5 (4 web, 1 g):\n%s", len(bPids), describe(ts))
	}
	if out := ac.mustCLI("node", "rm", "--force", "agent-b"); out != "agent-b\n" {
		t.Errorf("node rm --force printed %q", out)
	}
	select {
	case <-b.exited:
	case <-ctx.Done():
		t.Fatal("the removed node's agent is still running")
	}
	if code := b.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("the removed node's agent exited %d, want 1", code)
	}
	for _, pid := range bPids {
		if runs(pid) {
			t.Errorf("task process %d of the removed node still runs", pid)
		}
	}
	waitCluster(t, ctx, ac.c, "web's 4 tasks on agent-a", func(nodes map[string]*api.Node, ts []*api.Task) bool {
		return nodes[b.id] == nil && byNode(runningOf(ts, web.ID))[a.id] == 4
	})
	if out := ac.mustCLI("node", "ls"); strings.Contains(out, "agent-b") || !strings.Contains(out, "ENGINE VERSION") {
		t.Errorf("node ls after node rm --force:\n%s", out)
	}
	if out := ac.mustCLI("node", "ls", "--format", "{{.Hostname}} {{.EngineVersion}}"); !strings.Contains(out, "agent-a 0.1.0-dev\n") {
		t.Errorf("node ls: want agent-a's engine version:\n%s", out)
	}

	// A down node is removed without --force, and node ls no longer
	// shows it.
	removeAll(t, ac.c)
	a.signal(syscall.SIGTERM)
	waitCluster(t, ctx, ac.c, "agent-a down", func(nodes map[string]*api.Node, _ []*api.Task) bool {
		return nodes[a.id] != nil && nodes[a.id].Status.State == api.NodeStateDown
	})
	if out := ac.mustCLI("node", "rm", "agent-a"); out != "agent-a\n" {
		t.Errorf("node rm printed %q", out)
	}
	if out := ac.mustCLI("node", "ls"); strings.Contains(out, "agent-a") || !strings.Contains(out, "Leader") {
		t.Errorf("node ls after node rm:\n%s", out)
	}
}

// tasksOf returns the tasks of service id.
func tasksOf(ts []*api.Task, id string) []*api.Task {
	var out []*api.Task
	for _, t := range ts {
		if t.ServiceID == id {
			out = append(out, t)
		}
	}
	return out
}
