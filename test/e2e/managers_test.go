package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/testutil"
)

// managerProc is a `shoal manager` process and how to reach it.
type managerProc struct {
	*nodeProc
	addr string // its cluster port
	c    *client.Client
}

// freePort returns a TCP port free on ip now. A manager's cluster port
// is in the Raft configuration, so a restarted manager must get the same
// one: port 0 would not do.
func freePort(t *testing.T, ip string) string { return testutil.FreeAddr(t, ip) }

func startManager(t *testing.T, dir, addr string, extra ...string) *managerProc {
	t.Helper()
	args := append([]string{"manager", "--data-dir", dir, "--addr", addr, "--ingress", "off", "--publish-addr", "off", "--docker=false",
		"--heartbeat", "1s", "--log-level", "error"}, extra...)
	p, _ := startNodeProc(t, "shoal manager "+addr, dir, "try:", args...)
	c, err := client.New("unix://" + filepath.Join(dir, "shoal.sock"))
	if err != nil {
		t.Fatal(err)
	}
	return &managerProc{nodeProc: p, addr: addr, c: c}
}

// startManagers starts a manager on the first of ips (data folder
// root/m1) and joins one on each of the others (root/<ip>) with the
// manager token; they get SIGTERM when the test ends, as does a manager
// the test puts in their place in the slice.
func startManagers(t *testing.T, ctx context.Context, root string, ips ...string) ([]*managerProc, *api.Swarm) {
	t.Helper()
	ms := make([]*managerProc, 0, len(ips))
	t.Cleanup(func() {
		for _, m := range ms[:cap(ms)] {
			if m != nil {
				m.signal(syscall.SIGTERM)
			}
		}
	})
	ms = append(ms, startManager(t, filepath.Join(root, "m1"), freePort(t, ips[0])))
	sw, err := ms[0].c.SwarmInspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(root, "manager-token")
	if err := os.WriteFile(tokenFile, []byte(sw.JoinTokens.Manager+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ip := range ips[1:] {
		ms = append(ms, startManager(t, filepath.Join(root, ip), freePort(t, ip), "--join", ms[0].addr, "--token-file", tokenFile))
	}
	return ms, sw
}

// Three `shoal manager` processes and a worker: the leader is killed
// with SIGKILL; the other two elect a new one and take writes, the
// worker's task keeps running and its agent moves to the new leader, and
// the killed manager, started again, rejoins and catches up.
func TestManagersSurviveLeaderKill(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	root := t.TempDir()
	ms, sw := startManagers(t, ctx, root, "127.0.0.11", "127.0.0.12", "127.0.0.13")

	// A worker joins through a follower.
	agentDir := filepath.Join(root, "worker")
	worker, lines := startNodeProc(t, "shoal agent", agentDir, "ingress:", "agent", "--manager", ms[1].addr, "--token", sw.JoinTokens.Worker,
		"--addr", "127.0.0.20", "--data-dir", agentDir, "--hostname", "worker", "--ingress", "127.0.0.20:0", "--publish-addr", "off",
		"--docker=false", "--log-level", "error")
	t.Cleanup(func() {
		worker.signal(syscall.SIGTERM)
		for _, pid := range processesUnder(root) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	workerID := strings.Fields(strings.TrimPrefix(lines[0], "shoal agent: node "))[0]

	spec := processSpec("steady", 2, "sleep", "3600")
	spec.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.role==worker"}}
	svc, err := ms[2].c.ServiceCreate(ctx, spec) // a write through a follower
	if err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, ms[2].c, svc.ID, "2 running tasks on the worker", nRunning(2))
	pids := map[string]int{}
	for _, task := range running(tasks) {
		if task.NodeID != workerID {
			t.Fatalf("task %s on node %s, want the worker %s", task.ID, task.NodeID, workerID)
		}
		pids[task.ID] = pidOf(t, task)
	}

	leader := -1
	for i, m := range ms {
		info, err := m.c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.IsLeader {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatal("no manager says it leads")
	}
	var survivor *managerProc
	for i, m := range ms {
		if i != leader {
			survivor = m
			break
		}
	}
	killed := ms[leader]
	start := time.Now()
	killed.signal(syscall.SIGKILL)
	var failover time.Duration
	for n := 0; ; n++ {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := survivor.c.ConfigCreate(wctx, api.ConfigSpec{Name: fmt.Sprintf("after-kill-%d", n), Data: []byte("x")})
		cancel()
		if err == nil {
			failover = time.Since(start)
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no write acknowledged after the leader was killed: %v", err)
		}
		t.Logf("write %d after the kill: %v", n, err)
	}
	t.Logf("failover: SIGKILL of the leader to the first acknowledged write: %v", failover)

	// The worker's tasks ran on, and the worker registered again with the
	// new leader (its node is ready on a store the new leader writes).
	for id, pid := range pids {
		if !runs(pid) {
			t.Errorf("task %s (pid %d) stopped during the failover", id, pid)
		}
	}
	waitCluster(t, ctx, survivor.c, "the worker ready and its 2 tasks running after the failover", func(nodes map[string]*api.Node, ts []*api.Task) bool {
		if n := nodes[workerID]; n == nil || n.Status.State != api.NodeStateReady {
			return false
		}
		same := 0
		for _, task := range ts {
			if _, ok := pids[task.ID]; ok && task.Status.State == api.TaskStateRunning {
				same++
			}
		}
		return same == 2
	})

	// The killed manager comes back on its data folder (no token) and
	// catches up with what was written without it.
	ms[leader] = startManager(t, killed.dataDir, killed.addr)
	for {
		cs, err := ms[leader].c.ConfigList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the restarted manager never caught up")
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Its elections may move the leadership once more (a write that
	// lands then is refused, 503, and written by none: tried again).
	for {
		_, err := ms[leader].c.ConfigCreate(ctx, api.ConfigSpec{Name: "via-restarted", Data: []byte("y")})
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "not the Raft leader") || ctx.Err() != nil {
			t.Fatalf("write through the restarted manager: %v", err)
		}
	}
	if err := survivor.c.ServiceRemove(ctx, svc.ID); err != nil {
		t.Fatalf("remove service: %v", err)
	}
	for id, pid := range pids {
		deadline := time.Now().Add(20 * time.Second)
		for runs(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if runs(pid) {
			t.Errorf("task %s (pid %d) still runs after its service was removed", id, pid)
		}
	}
}
