package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// nodeProc is a `shoal dev` or `shoal agent` process whose output lines
// the test reads.
type nodeProc struct {
	name    string
	dataDir string
	cmd     *exec.Cmd
	lines   chan string
	exited  chan struct{}
	stopped bool
}

// startNodeProc runs shoal with args and waits for a line that contains
// ready; it returns the lines read until then.
func startNodeProc(t *testing.T, name, dataDir, ready string, args ...string) (*nodeProc, []string) {
	t.Helper()
	return startNodeCmd(t, name, dataDir, ready, exec.Command(shoalBin, args...))
}

// startNodeCmd is startNodeProc for a command that runs shoal otherwise
// (under a shell that sets its limits first, say).
func startNodeCmd(t *testing.T, name, dataDir, ready string, cmd *exec.Cmd) (*nodeProc, []string) {
	t.Helper()
	return startNodeWith(t, name, dataDir, ready, cmd, cmd.Start)
}

// startNodeWith is startNodeCmd for a command that start starts (inside a
// netlab node, say).
func startNodeWith(t *testing.T, name, dataDir, ready string, cmd *exec.Cmd, start func() error) (*nodeProc, []string) {
	t.Helper()
	p := &nodeProc{name: name, dataDir: dataDir, cmd: cmd, lines: make(chan string, 256), exited: make(chan struct{})}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = os.Stderr
	if err := start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.cmd.Wait()
	}()
	var got []string
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s exited before it was ready; it printed %q", name, got)
			}
			got = append(got, l)
			if strings.Contains(l, ready) {
				return p, got
			}
		case <-timeout:
			p.cmd.Process.Kill()
			t.Fatalf("%s was not ready in time; it printed %q", name, got)
		}
	}
}

// field returns the value printed after "label:" in lines.
func field(t *testing.T, lines []string, label string) string {
	t.Helper()
	for _, l := range lines {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), label+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q line in %q", label, lines)
	return ""
}

// signal sends sig and waits for the process to exit.
func (p *nodeProc) signal(sig syscall.Signal) {
	if p.stopped {
		return
	}
	p.stopped = true
	_ = p.cmd.Process.Signal(sig) // it may have exited already
	for range p.lines {
	}
	<-p.exited
}

// agentCluster is a `shoal dev` manager serving agents on TCP, and
// `shoal agent` worker nodes on other loopback addresses.
type agentCluster struct {
	t         *testing.T
	dev       *nodeProc
	devDir    string
	agentsDir string
	agentAddr string // the manager's agent port
	token     string
	c         *client.Client
	agents    map[string]*agentNode
}

// agentNode is one `shoal agent` and what the cluster knows of it.
type agentNode struct {
	*nodeProc
	addr    string
	id      string
	ingress string   // http://HOST:PORT
	out     []string // what it printed until ready
}

// newAgentCluster starts a manager on 127.0.0.1 serving agents, and
// returns it with the swarm it reports (agent port, join token).
func newAgentCluster(t *testing.T, ctx context.Context) (*agentCluster, *api.Swarm) {
	t.Helper()
	ac := &agentCluster{t: t, devDir: t.TempDir(), agentsDir: t.TempDir(), agents: map[string]*agentNode{}}
	ac.startDev("127.0.0.1:0")
	var err error
	if ac.c, err = client.New("unix://" + filepath.Join(ac.devDir, "shoal.sock")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ac.stopAll)
	sw, err := ac.c.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ac.agentAddr, ac.token = sw.AgentAddr, sw.JoinTokens.Worker
	return ac, sw
}

func (ac *agentCluster) startDev(listen string) {
	t := ac.t
	t.Helper()
	p, _ := startNodeProc(t, "shoal dev", ac.devDir, "cluster ready", "dev", "--data-dir", ac.devDir, "--log-level", "error",
		"--ingress", "127.0.0.1:0", "--publish-addr", "127.0.0.1", "--docker=false", "--heartbeat", "2s", "--drain-delay", "300ms", "--listen-agents", listen)
	ac.dev = p
}

// startAgent starts (or restarts) the agent named name on addr; extra
// are more flags of `shoal agent`.
func (ac *agentCluster) startAgent(name, addr string, extra ...string) *agentNode {
	t := ac.t
	t.Helper()
	dir := filepath.Join(ac.agentsDir, name)
	args := append([]string{"agent", "--manager", ac.agentAddr, "--token", ac.token,
		"--addr", addr, "--data-dir", dir, "--hostname", name, "--ingress", addr + ":0", "--publish-addr", addr, "--docker=false", "--drain-delay", "300ms",
		"--log-level", "error", "-l", "e2e=yes"}, extra...)
	p, lines := startNodeProc(t, "shoal agent "+name, dir, "ingress:", args...)
	if !strings.Contains(strings.Join(lines, "\n"), "joined") {
		t.Fatalf("agent %s printed %q", name, lines)
	}
	id := strings.Fields(strings.TrimPrefix(lines[0], "shoal agent: node "))[0]
	ingress := strings.Fields(field(t, lines, "ingress"))[0]
	t.Logf("agent %s is node %s", name, id)
	n := &agentNode{nodeProc: p, addr: addr, id: id, ingress: ingress, out: lines}
	ac.agents[name] = n
	return n
}

// stopAll removes the services, stops every process, and kills whatever
// task process is left under a data folder (even when a step fails).
func (ac *agentCluster) stopAll() {
	t := ac.t
	defer func() {
		for _, dir := range []string{ac.devDir, ac.agentsDir} {
			for _, pid := range processesUnder(dir) {
				t.Errorf("task process %d outlived the cluster", pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}()
	defer func() {
		for _, a := range ac.agents {
			a.signal(syscall.SIGTERM)
		}
		if ac.dev != nil {
			ac.dev.signal(syscall.SIGTERM)
		}
	}()
	if ac.dev != nil && !ac.dev.stopped {
		removeAll(t, ac.c)
	}
}

// waitCluster re-reads nodes and tasks on every cluster event until cond
// holds.
func waitCluster(t *testing.T, ctx context.Context, c *client.Client, what string, cond func(nodes map[string]*api.Node, tasks []*api.Task) bool) []*api.Task {
	t.Helper()
	var lastNodes map[string]*api.Node
	var lastTasks []*api.Task
	errDone := errors.New("done")
	err := c.Events(ctx, client.EventFilter{Types: []string{api.EventTask, api.EventNode}}, func(api.Event) error {
		ns, err := c.NodeList(ctx)
		if err != nil {
			return err
		}
		ts, err := c.TaskList(ctx, client.TaskFilter{})
		if err != nil {
			return err
		}
		lastNodes = map[string]*api.Node{}
		for _, n := range ns {
			lastNodes[n.ID] = n
		}
		lastTasks = ts
		if cond(lastNodes, ts) {
			return errDone
		}
		return nil
	})
	if err != errDone {
		var b strings.Builder
		for _, n := range lastNodes {
			fmt.Fprintf(&b, "  node %s %s %s v%d\n", n.ID, n.Description.Hostname, n.Status.State, n.Version)
		}
		t.Fatalf("waiting for %s: %v; last nodes:\n%slast tasks:\n%s", what, err, b.String(), describe(lastTasks))
	}
	return lastTasks
}

// runs reports whether the process runs: a zombie does not (a killed
// agent's tasks are reparented to a PID 1 that may not reap them).
func runs(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	return data[i+2] != 'Z' && data[i+2] != 'X'
}

// byNode counts the running tasks per node.
func byNode(ts []*api.Task) map[string]int {
	out := map[string]int{}
	for _, tk := range running(ts) {
		out[tk.NodeID]++
	}
	return out
}

// sortedIDs are the IDs of tasks, sorted.
func sortedIDs(ts []*api.Task) []string {
	var out []string
	for _, tk := range ts {
		out = append(out, tk.ID)
	}
	sort.Strings(out)
	return out
}

// hitAll sends requests to an ingress until every task of want answered
// one (the ingress balances round-robin among idle tasks, so a few rounds
// reach them all once its table has them). It returns the tasks that
// answered, and fails on a request that fails.
func hitAll(t *testing.T, base string, want []*api.Task) map[string]int {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	seen := map[string]int{}
	missing := func() []string {
		var out []string
		for _, tk := range want {
			if seen[tk.ID] == 0 {
				out = append(out, tk.ID)
			}
		}
		return out
	}
	for i := 0; i < 50*len(want) && len(missing()) > 0; i++ {
		seen[hit(t, hc, base)]++
	}
	if m := missing(); len(m) > 0 {
		t.Fatalf("ingress %s never routed to tasks %v; it routed to %v", base, m, seen)
	}
	return seen
}

// hit sends one request through an ingress and returns the ID of the task
// that answered.
func hit(t *testing.T, hc *http.Client, base string) string {
	t.Helper()
	id, status := hitStatus(t, hc, base, http.StatusOK)
	if status != http.StatusOK {
		t.Fatalf("GET through %s: %d", base, status)
	}
	return id
}

// hitStatus sends one request through an ingress. It returns the ID of
// the task that answered 200, or else the status when it is one of
// tolerated (failing the test on any other).
func hitStatus(t *testing.T, hc *http.Client, base string, tolerated ...int) (string, int) {
	t.Helper()
	resp, err := hc.Get(base + "/")
	if err != nil {
		t.Fatalf("GET through %s: %v", base, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if !slices.Contains(tolerated, resp.StatusCode) {
			t.Fatalf("GET through %s: %s %s", base, resp.Status, body)
		}
		return "", resp.StatusCode
	}
	var who struct {
		TaskID string `json:"taskID"`
	}
	if err := json.Unmarshal(body, &who); err != nil || who.TaskID == "" {
		t.Fatalf("GET through %s: body %q: %v", base, body, err)
	}
	return who.TaskID, http.StatusOK
}

// Worker nodes join a running manager over TCP: the scheduler spreads a
// service over all nodes, every node's ingress routes to tasks on every
// node, an agent restart adopts its tasks, a manager restart loses
// nothing, a killed agent's tasks are replaced on the other nodes once its
// node is down, and its restart stops the stale tasks without duplicating
// any. An agent with a wrong token is refused and exits non-zero.
func TestAgentsJoinRunAndRoute(t *testing.T) {
	ctx := ctxTimeout(t, 4*time.Minute)
	ac, sw := newAgentCluster(t, ctx)
	if !strings.HasPrefix(sw.AgentAddr, "127.0.0.1:") || !strings.HasPrefix(sw.JoinTokens.Worker, "SHOALTKN-1-") {
		t.Fatalf("swarm %+v: want the agent port and a join token", sw)
	}
	a := ac.startAgent("agent-a", "127.0.0.2")
	b := ac.startAgent("agent-b", "127.0.0.3")
	info, err := ac.c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	manager := info.NodeID

	nodes, err := ac.c.NodeList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == manager {
			continue
		}
		if n.Status.State != api.NodeStateReady || n.Spec.Role != api.RoleWorker || n.Description.EngineLabels["e2e"] != "yes" ||
			(n.Status.Addr != "127.0.0.2" && n.Status.Addr != "127.0.0.3") || !strings.HasPrefix(n.Description.Hostname, "agent-") {
			t.Errorf("worker node %+v", n)
		}
	}
	if len(nodes) != 3 {
		t.Fatalf("%d nodes, want the manager and 2 workers", len(nodes))
	}

	spec := processSpec("web", 6, testApp)
	spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}}
	spec.Labels = map[string]string{
		"traefik.http.routers.web.rule":                      "PathPrefix(`/`)",
		"traefik.http.services.web.loadbalancer.server.port": "80",
	}
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Delay: api.DurationPtr(0)}
	// Running means serving: without a check a task runs once its
	// process starts, and an ingress would pass over it (retrying the
	// refused connection elsewhere) until it listens.
	spec.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{
		Test:     []string{"CMD", testApp, "health"},
		Interval: api.DurationPtr(100 * time.Millisecond),
		Timeout:  api.DurationPtr(5 * time.Second),
		Retries:  u64p(3),
	}
	if _, err := ac.c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	first := waitTasks(t, ctx, ac.c, "web", "6 running", nRunning(6))

	// Spread: two tasks on each node, each publishing on its node's
	// address.
	spread := byNode(first)
	if spread[manager] != 2 || spread[a.id] != 2 || spread[b.id] != 2 {
		t.Fatalf("tasks per node %v, want 2 on each of the manager, %s and %s", spread, a.id, b.id)
	}
	nodeAddr := map[string]string{manager: "127.0.0.1", a.id: a.addr, b.id: b.addr}
	for _, tk := range first {
		if len(tk.Endpoints) != 1 || !strings.HasPrefix(tk.Endpoints[0].Addr, nodeAddr[tk.NodeID]+":") {
			t.Errorf("task %s on %s has endpoints %+v, want its node's address", tk.ID, tk.NodeID, tk.Endpoints)
		}
	}

	// Every ingress routes to the tasks of every node.
	hitAll(t, a.ingress, running(first))
	hitAll(t, b.ingress, running(first))

	t.Run("AgentRestartAdoptsItsTasks", func(t *testing.T) {
		before := running(first)
		a.signal(syscall.SIGTERM)
		a = ac.startAgent("agent-a", "127.0.0.2")
		hitAll(t, a.ingress, before)
		now, err := ac.c.TaskList(ctx, clientFilter("web"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := sortedIDs(live(now)), sortedIDs(before); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("tasks after the agent restart %v, want the same %v", got, want)
		}
		if fmt.Sprint(pids(now, t)) != fmt.Sprint(pids(before, t)) {
			t.Fatalf("PIDs after the agent restart %v, want the same %v", pids(now, t), pids(before, t))
		}
		// The health checks (every 100ms) run in the tasks' folders too.
		if under := taskProcessesUnder(a.dataDir); len(under) != spread[a.id] {
			t.Errorf("processes under agent-a's folder: %v, want its %d task processes", under, spread[a.id])
		}
	})

	t.Run("ManagerRestartLosesNothing", func(t *testing.T) {
		before, err := ac.c.TaskList(ctx, clientFilter("web"))
		if err != nil {
			t.Fatal(err)
		}
		versions := map[string]uint64{}
		nodes, err := ac.c.NodeList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			versions[n.ID] = n.Version
		}
		ac.dev.signal(syscall.SIGKILL)
		ac.startDev(ac.agentAddr)
		// Both agents register again with the new manager.
		now := waitCluster(t, ctx, ac.c, "both agents registered again", func(ns map[string]*api.Node, _ []*api.Task) bool {
			for _, id := range []string{a.id, b.id} {
				if n := ns[id]; n == nil || n.Version <= versions[id] || n.Status.State != api.NodeStateReady {
					return false
				}
			}
			return true
		})
		var after []*api.Task
		for _, tk := range now {
			if tk.ServiceID == before[0].ServiceID {
				after = append(after, tk)
			}
		}
		if got, want := sortedIDs(live(after)), sortedIDs(live(before)); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("tasks after the manager restart %v, want the same %v", got, want)
		}
		hitAll(t, a.ingress, running(before))
	})

	t.Run("KilledAgentsTasksReplaced", func(t *testing.T) {
		before, err := ac.c.TaskList(ctx, clientFilter("web"))
		if err != nil {
			t.Fatal(err)
		}
		var stale []*api.Task
		for _, tk := range running(before) {
			if tk.NodeID == b.id {
				stale = append(stale, tk)
			}
		}
		b.signal(syscall.SIGKILL)
		for _, tk := range stale {
			if !runs(pidOf(t, tk)) {
				t.Fatalf("task process %s died with its agent; tasks must outlive it", tk.ID)
			}
		}
		now := waitCluster(t, ctx, ac.c, "agent-b down and its tasks replaced", func(ns map[string]*api.Node, ts []*api.Task) bool {
			if n := ns[b.id]; n == nil || n.Status.State != api.NodeStateDown {
				return false
			}
			var web []*api.Task
			for _, tk := range ts {
				if tk.ServiceID == before[0].ServiceID {
					web = append(web, tk)
				}
			}
			return len(running(web)) == 6 && byNode(web)[b.id] == 0
		})
		var web []*api.Task
		for _, tk := range running(now) {
			if tk.ServiceID == before[0].ServiceID {
				web = append(web, tk)
			}
		}
		// Once agent-a's ingress has routed to every current task, it has
		// applied the stale tasks' removal too (the stream is in order):
		// no request reaches them any more, although their processes
		// still run.
		hitAll(t, a.ingress, web)
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for range 2 * len(web) {
			id := hit(t, hc, a.ingress)
			for _, tk := range stale {
				if tk.ID == id {
					t.Fatalf("agent-a's ingress routed to %s, a task of the down node", id)
				}
			}
		}
	})

	t.Run("RestartedAgentStopsStaleTasks", func(t *testing.T) {
		before, err := ac.c.TaskList(ctx, clientFilter("web"))
		if err != nil {
			t.Fatal(err)
		}
		var stale []*api.Task
		for _, tk := range before {
			if tk.NodeID == b.id && !tk.Status.State.Terminal() {
				stale = append(stale, tk)
			}
		}
		if len(stale) == 0 {
			t.Fatal("agent-b has no stale tasks to stop")
		}
		b = ac.startAgent("agent-b", "127.0.0.3")
		after := waitTasks(t, ctx, ac.c, "web", "agent-b's stale tasks shut down", func(ts []*api.Task) bool {
			for _, tk := range ts {
				if tk.NodeID == b.id && !tk.Status.State.Terminal() {
					return false
				}
			}
			return true
		})
		for _, tk := range stale {
			if pid := pidOf(t, tk); runs(pid) {
				t.Errorf("stale task %s's process %d still runs", tk.ID, pid)
			}
		}
		if len(running(after)) != 6 || len(live(after)) != 6 {
			t.Fatalf("after agent-b's restart:\n%s want exactly 6 live tasks", describe(after))
		}
		if left := processesUnder(b.dataDir); len(left) != 0 {
			t.Errorf("processes left under agent-b's folder: %v", left)
		}
	})

	t.Run("WrongTokenRefused", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, shoalBin, "agent", "--manager", ac.agentAddr, "--token", "SHOALTKN-1-wrong",
			"--addr", "127.0.0.4", "--data-dir", filepath.Join(ac.agentsDir, "intruder"), "--ingress", "off", "--docker=false")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("agent with a wrong token: %v, want exit code 1; stderr %q", err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "invalid join token") || strings.Count(stderr.String(), "invalid join token") != 1 {
			t.Errorf("stderr %q: want the refusal, once", stderr.String())
		}
		nodes, err := ac.c.NodeList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 3 {
			t.Errorf("%d nodes after a refused join, want 3", len(nodes))
		}
	})
}
