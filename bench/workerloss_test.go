package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/testutil/mgrproc"
)

// workerProc is one `shoal agent` process.
type workerProc struct {
	b       *testing.B
	bin     string
	args    []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	id      string
}

// startWorker runs `shoal agent` and waits until it has joined.
func startWorker(b *testing.B, bin, logPath string, args ...string) *workerProc {
	b.Helper()
	w := &workerProc{b: b, bin: bin, args: args, logPath: logPath}
	w.start()
	b.Cleanup(w.kill)
	return w
}

func (w *workerProc) start() {
	w.b.Helper()
	logf, err := os.OpenFile(w.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		w.b.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(w.bin, w.args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		w.b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.b.Fatal(err)
	}
	joined := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line := sc.Text(); strings.Contains(line, " joined ") {
				joined <- strings.Fields(strings.TrimPrefix(line, "shoal agent: node "))[0]
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
	}()
	select {
	case w.id = <-joined:
	case <-done:
		b, _ := os.ReadFile(w.logPath)
		w.b.Fatalf("shoal agent exited before it joined:\n%s", b)
	case <-time.After(time.Minute):
		w.b.Fatal("shoal agent did not join in a minute")
	}
	w.cmd, w.done = cmd, done
}

// kill sends SIGKILL to the agent and waits for it to go.
func (w *workerProc) kill() {
	if w.cmd == nil {
		return
	}
	_ = w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
	w.cmd = nil
}

// taskPIDs are the process IDs of the node's tasks that run.
func taskPIDs(ctx context.Context, c *client.Client, node string) ([]int, error) {
	ts, err := c.TaskList(ctx, client.TaskFilter{Node: node})
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, t := range ts {
		if pid, err := strconv.Atoi(t.Status.RuntimeID); err == nil && pid > 0 && t.Status.State == api.TaskStateRunning {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// runningOn counts the service's tasks wanted and running, per node.
func runningOn(ctx context.Context, c *client.Client, service string) (map[string]int, int, error) {
	ts, err := c.TaskList(ctx, client.TaskFilter{Service: service})
	if err != nil {
		return nil, 0, err
	}
	per, live := map[string]int{}, 0
	for _, t := range ts {
		if t.Live() {
			live++
		}
		if t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning {
			per[t.NodeID]++
		}
	}
	return per, live, nil
}

// poll calls cond every 20 ms until it holds, for at most limit.
func poll(b *testing.B, what string, limit time.Duration, cond func() (bool, error)) {
	b.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: not within %s (last error %v)", what, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkWorkerSIGKILL: node loss, SIGKILL of a worker node (its `shoal agent` and its
// task processes, as a machine that dies) → every task it ran running on
// the other worker. Real processes on loopback addresses: one `shoal
// manager` and two `shoal agent` workers; a service of 6 replicas
// constrained to workers, spread 3 and 3. down-ms is when the manager
// marked the node down (its heartbeat TTL), p50/p99-ms when the last
// replacement reported running. Between iterations the killed worker is
// started again on its data folder (it stops its stale tasks) and
// `service update --force` spreads the service again (nothing rebalances
// on its own). NODELOSS_HEARTBEAT=1s passes --heartbeat to the manager
// (default 2s: a node is down after 3 missed beats, 6 s).
// Run with -benchtime=10x.
func BenchmarkWorkerSIGKILL(b *testing.B) {
	dir := b.TempDir()
	bin, err := mgrproc.Build(dir)
	if err != nil {
		b.Fatal(err)
	}
	var opts mgrproc.Options
	if hb := os.Getenv("NODELOSS_HEARTBEAT"); hb != "" {
		opts.Args = []string{"--heartbeat", hb}
	}
	cl := mgrproc.Start(b, bin, 1, opts)
	mgr := cl.Managers[0]
	c := mgr.Client()
	ctx := context.Background()
	tokenFile := filepath.Join(dir, "worker-token")
	out, err := exec.Command(bin, "-H", mgr.Host, "swarm", "join-token", "worker", "-q").Output()
	if err != nil {
		b.Fatalf("join-token worker: %v", err)
	}
	if err := os.WriteFile(tokenFile, out, 0o600); err != nil {
		b.Fatal(err)
	}
	secrets, err := os.MkdirTemp("/dev/shm", "shoal-nodeloss-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(secrets) })
	host, _, _ := net.SplitHostPort(mgr.Addr)
	prefix := host[:strings.LastIndexByte(host, '.')+1]
	var workers []*workerProc
	for i := range 2 {
		name := fmt.Sprintf("w%d", i+1)
		addr := fmt.Sprintf("%s%d", prefix, 11+i)
		workers = append(workers, startWorker(b, bin, filepath.Join(dir, name+".log"), "agent", "--manager", mgr.Addr, "--token-file", tokenFile,
			"--addr", addr, "--data-dir", filepath.Join(dir, name), "--hostname", name, "--ingress", "off", "--publish-addr", "off",
			"--docker=false", "--secrets-dir", secrets, "--log-level", "warn"))
	}
	const replicas = 6
	spec := api.ServiceSpec{Name: "lossy", Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "3600"}},
			Placement: &api.Placement{Constraints: []string{"node.role==worker"}}}}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = c.ServiceRemove(context.Background(), "lossy")
		// Gone with their service; the workers are killed after (their
		// cleanups were registered first).
		poll(b, "tasks removed", 2*time.Minute, func() (bool, error) {
			ts, err := c.TaskList(context.Background(), client.TaskFilter{})
			for _, t := range ts {
				if !t.Status.State.Terminal() {
					return false, err
				}
			}
			return true, err
		})
	})
	spread := func() {
		poll(b, "service spread 3 and 3", 2*time.Minute, func() (bool, error) {
			per, live, err := runningOn(ctx, c, "lossy")
			return live == replicas && per[workers[0].id] == replicas/2 && per[workers[1].id] == replicas/2, err
		})
	}
	spread()
	var lat, down []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		victim, other := workers[i%2], workers[(i+1)%2]
		// Those whose running report has landed; another is left to the
		// restarted agent, which stops it.
		pids, err := taskPIDs(ctx, c, victim.id)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		victim.kill()
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		var downAt time.Time
		poll(b, "all tasks running on the other worker", time.Minute, func() (bool, error) {
			if downAt.IsZero() {
				if n, err := c.NodeInspect(ctx, victim.id); err == nil && n.Status.State == api.NodeStateDown {
					downAt = time.Now()
				}
			}
			per, _, err := runningOn(ctx, c, "lossy")
			return per[other.id] == replicas, err
		})
		lat = append(lat, time.Since(t0))
		if !downAt.IsZero() {
			down = append(down, downAt.Sub(t0))
		}
		b.StopTimer()
		victim.start()
		if err := exec.Command(bin, "-H", mgr.Host, "service", "update", "--force", "--detach", "lossy").Run(); err != nil {
			b.Fatalf("service update --force: %v", err)
		}
		spread()
		b.StartTimer()
	}
	b.StopTimer()
	if len(down) > 0 {
		b.ReportMetric(ms(percentile(down, 0.5)), "down-p50-ms")
	}
	b.ReportMetric(ms(percentile(lat, 0.5)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(lat, 1)), "max-ms")
}
