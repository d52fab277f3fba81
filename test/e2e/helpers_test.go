// Package e2e runs whole shoal clusters: in-process dev clusters and real
// `shoal` processes, with real task processes that the tests kill.
package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// quietLog keeps cluster logs out of test output.
var quietLog = slog.New(slog.NewTextHandler(logOut(), &slog.HandlerOptions{Level: slog.LevelInfo}))

// shoalBin is the shoal binary built for the tests that run it as a
// process; testApp is the small HTTP app the traffic tests run as tasks.
var shoalBin, testApp string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shoalBin = filepath.Join(dir, "shoal")
	build := exec.Command("go", "build", "-o", shoalBin, "github.com/shoalproject/shoal/cmd/shoal")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build shoal:", err)
		os.Exit(1)
	}
	testApp = filepath.Join(dir, "testapp")
	build = exec.Command("go", "build", "-o", testApp, "github.com/shoalproject/shoal/internal/testutil/testapp")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build testapp:", err)
		os.Exit(1)
	}
	code := m.Run()
	testutil.RemoveImages()
	os.RemoveAll(dir)
	os.Exit(code)
}

// devCluster starts an in-process dev cluster and, at cleanup, removes its
// services, waits for their processes to stop, and closes it.
func devCluster(t *testing.T) (*daemon.Dev, *client.Client) {
	t.Helper()
	return devClusterWith(t, daemon.DevConfig{})
}

// devClusterWith starts a dev cluster with cfg (its data folder and logger
// filled in).
func devClusterWith(t *testing.T, cfg daemon.DevConfig) (*daemon.Dev, *client.Client) {
	t.Helper()
	cfg.DataDir, cfg.Logger = t.TempDir(), quietLog
	d, err := daemon.StartDev(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(d.Host())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		removeAll(t, c)
		if err := d.Close(); err != nil {
			t.Errorf("close dev cluster: %v", err)
		}
	})
	return d, c
}

// removeAll removes every service and waits until no task is left.
func removeAll(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	svcs, err := c.ServiceList(ctx)
	if err != nil {
		t.Errorf("list services: %v", err)
		return
	}
	for _, s := range svcs {
		if err := c.ServiceRemove(ctx, s.ID); err != nil {
			t.Errorf("remove %s: %v", s.Spec.Name, err)
		}
	}
	waitTasks(t, ctx, c, "", "all tasks gone", func(ts []*api.Task) bool { return len(ts) == 0 })
}

// createRunning creates the replicated service spec and waits until its
// replicas run.
func createRunning(t *testing.T, ctx context.Context, c *client.Client, spec api.ServiceSpec) (*api.Service, []*api.Task) {
	t.Helper()
	svc, err := c.ServiceCreate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	n := int(spec.Mode.Replicated.Replicas)
	return svc, waitTasks(t, ctx, c, spec.Name, fmt.Sprintf("%d running", n), nRunning(n))
}

// waitTasks re-reads the tasks (of one service, or all) on every cluster
// event until cond holds or ctx ends.
func waitTasks(t *testing.T, ctx context.Context, c *client.Client, service, what string, cond func([]*api.Task) bool) []*api.Task {
	t.Helper()
	var last []*api.Task
	check := func() (bool, error) {
		ts, err := c.TaskList(ctx, client.TaskFilter{Service: service})
		if err != nil {
			return false, err
		}
		last = ts
		return cond(ts), nil
	}
	errDone := fmt.Errorf("done")
	err := c.Events(ctx, client.EventFilter{Types: []string{api.EventTask, api.EventNode, api.EventService}}, func(api.Event) error {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return errDone
		}
		return nil
	})
	if err != errDone {
		t.Fatalf("waiting for %s: %v; last tasks:\n%s", what, err, describe(last))
	}
	return last
}

func describe(ts []*api.Task) string {
	var b strings.Builder
	for _, t := range ts {
		fmt.Fprintf(&b, "  %s %s v%d node=%s created=%s desired=%s state=%s at=%s msg=%q err=%q runtime=%s\n", t.ID, t.Name(), t.SpecVersion, t.NodeID,
			t.CreatedAt.Format("15:04:05.000000"), t.DesiredState, t.Status.State, t.Status.Timestamp.Format("15:04:05.000000"), t.Status.Message, t.Status.Err, t.Status.RuntimeID)
	}
	return b.String()
}

// running returns the tasks that run and are meant to.
func running(ts []*api.Task) []*api.Task {
	var out []*api.Task
	for _, t := range ts {
		if t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning {
			out = append(out, t)
		}
	}
	return out
}

func nRunning(n int) func([]*api.Task) bool {
	return func(ts []*api.Task) bool { return len(running(ts)) == n && len(live(ts)) == n }
}

func live(ts []*api.Task) []*api.Task {
	var out []*api.Task
	for _, t := range ts {
		if t.Live() {
			out = append(out, t)
		}
	}
	return out
}

func replicated(n uint64) api.ServiceMode {
	return api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: n}}
}

func processSpec(name string, replicas uint64, argv ...string) api.ServiceSpec {
	return api.ServiceSpec{Name: name, Mode: replicated(replicas), TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: argv}}}
}

func pidOf(t *testing.T, task *api.Task) int {
	t.Helper()
	pid, err := strconv.Atoi(task.Status.RuntimeID)
	if err != nil || pid <= 0 {
		t.Fatalf("task %s has no PID (RuntimeID %q)", task.ID, task.Status.RuntimeID)
	}
	return pid
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// processesUnder lists the PIDs of processes whose working folder is
// inside dir: the task processes of a data folder.
func processesUnder(dir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, dir+string(os.PathSeparator)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// taskProcessesUnder is processesUnder without the health checks of
// testapp's tasks (`testapp health`), which run in the same folders.
func taskProcessesUnder(dir string) []int {
	var pids []int
	for _, pid := range processesUnder(dir) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.HasSuffix(string(cmdline), "\x00health\x00") {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func clientFilter(service string) client.TaskFilter { return client.TaskFilter{Service: service} }

// logOut is where cluster logs go: nowhere, unless SHOAL_TEST_LOG=1.
func logOut() io.Writer {
	if os.Getenv("SHOAL_TEST_LOG") == "1" {
		return os.Stderr
	}
	return io.Discard
}

// clientOf returns an API client of a dev cluster.
func clientOf(t *testing.T, d *daemon.Dev) *client.Client {
	t.Helper()
	c, err := client.New(d.Host())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(path string) error { return os.WriteFile(path, nil, 0o644) }

// appHealthcheck is the HEALTHCHECK of the testapp image the container
// tests run. A failing /health shows within about 3s; the 5s timeout
// keeps a check that is only slow (docker exec on a loaded machine) from
// failing a healthy task, which then restarts under the test's feet.
const appHealthcheck = `HEALTHCHECK --interval=1s --timeout=5s --retries=3 CMD ["/app", "health", "--url", "http://127.0.0.1:8080/health"]`
