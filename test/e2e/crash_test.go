package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// devProcess is `shoal dev` running as its own process.
type devProcess struct {
	cmd  *exec.Cmd
	host string
}

// startDevProcess runs `shoal dev` on dataDir and waits until it is ready.
func startDevProcess(t *testing.T, dataDir string) *devProcess {
	t.Helper()
	cmd := exec.Command(shoalBin, "dev", "--data-dir", dataDir, "--log-level", "error", "--ingress", "127.0.0.1:0", "--docker=false")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "cluster ready") {
				ready <- nil
				break
			}
		}
		for sc.Scan() {
		}
		ready <- sc.Err()
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("shoal dev did not become ready")
	}
	return &devProcess{cmd: cmd, host: "unix://" + filepath.Join(dataDir, "shoal.sock")}
}

func (p *devProcess) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

func pids(ts []*api.Task, t *testing.T) []int {
	var out []int
	for _, tk := range running(ts) {
		out = append(out, pidOf(t, tk))
	}
	sort.Ints(out)
	return out
}

// kill -9 of shoal dev and a restart on the same data folder brings back
// every service; surviving task processes are adopted (same tasks, same
// PIDs), one that died meanwhile is replaced, and no process is left
// unmanaged.
func TestCrashRestartAdoptsSurvivorsWithoutDuplicates(t *testing.T) {
	dataDir := t.TempDir()
	p := startDevProcess(t, dataDir)
	c, err := client.New(p.host)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 120*time.Second)
	spec := processSpec("web", 3, "sleep", "300")
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Delay: api.DurationPtr(0)}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	before := waitTasks(t, ctx, c, "web", "3 running", nRunning(3))
	beforePIDs := pids(before, t)

	p.kill9(t)
	for _, pid := range beforePIDs {
		if !alive(pid) {
			t.Fatalf("task process %d died with shoal dev; tasks must outlive the agent", pid)
		}
	}
	// One task dies while nobody watches.
	lost := running(before)[0]
	if err := syscall.Kill(pidOf(t, lost), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	p = startDevProcess(t, dataDir)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c.ServiceRemove(cctx, "web")
		waitTasks(t, cctx, c, "", "tasks gone", func(ts []*api.Task) bool { return len(ts) == 0 })
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	})
	after := waitTasks(t, ctx, c, "web", "3 running again with the lost one replaced", func(ts []*api.Task) bool {
		if !nRunning(3)(ts) {
			return false
		}
		for _, tk := range ts {
			if tk.ID == lost.ID {
				return tk.Status.State.Terminal()
			}
		}
		return false
	})
	afterPIDs := pids(after, t)
	kept := 0
	for _, a := range afterPIDs {
		for _, b := range beforePIDs {
			if a == b {
				kept++
			}
		}
	}
	if kept != 2 {
		t.Errorf("%d of the 2 surviving processes were adopted (before %v, after %v)", kept, beforePIDs, afterPIDs)
	}
	survivors := map[string]bool{}
	for _, tk := range running(before) {
		if tk.ID != lost.ID {
			survivors[tk.ID] = true
		}
	}
	for _, tk := range running(after) {
		if tk.Slot != lost.Slot && !survivors[tk.ID] {
			t.Errorf("slot %d got a new task %s although its process survived", tk.Slot, tk.ID)
		}
	}
	// Exactly the three managed processes run from this data folder.
	under := processesUnder(dataDir)
	sort.Ints(under)
	if len(under) != 3 {
		t.Errorf("processes under the data folder: %v, want exactly the 3 task processes %v", under, afterPIDs)
	}
}

func TestAcknowledgedServiceSurvivesCrash(t *testing.T) {
	dataDir := t.TempDir()
	p := startDevProcess(t, dataDir)
	c, _ := client.New(p.host)
	ctx := ctxTimeout(t, 60*time.Second)
	if _, err := c.ServiceCreate(ctx, processSpec("zero", 0, "sleep", "300")); err != nil {
		t.Fatal(err)
	}
	// The create was acknowledged: it must survive kill -9 right after.
	p.kill9(t)
	p = startDevProcess(t, dataDir)
	defer func() {
		c.ServiceRemove(ctx, "zero")
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
	}()
	svc, err := c.ServiceInspect(ctx, "zero")
	if err != nil {
		t.Fatalf("acknowledged service lost in the crash: %v", err)
	}
	if svc.Spec.Mode.Replicas() != 0 {
		t.Fatalf("service came back with %d replicas, want 0", svc.Spec.Mode.Replicas())
	}
}
