package process

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait of the tests; it is generous on purpose.
const testTimeout = 15 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newRuntime returns a Runtime over a fresh root; its running tasks are
// killed and it is closed when the test ends.
func newRuntime(t *testing.T) (*Runtime, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	r, err := New(root, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, r) })
	return r, root
}

// newSecretsRuntime returns a Runtime over a fresh root with its secrets
// under secretsRoot, as newRuntime does.
func newSecretsRuntime(t *testing.T, secretsRoot string) (*Runtime, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	r, err := Open(Options{Root: root, NodeAddr: "127.0.0.1", SecretsRoot: secretsRoot})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, r) })
	return r, root
}

// shutdown kills the running tasks of r and closes it.
func shutdown(t *testing.T, r *Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	hs, err := r.List(ctx)
	if err == nil {
		for _, h := range hs {
			if h.Running {
				if err := r.Stop(ctx, h.TaskID, 0); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
		}
	}
	if err := r.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

func spec(argv ...string) runtime.TaskSpec {
	id := api.NewID()
	return runtime.TaskSpec{
		TaskID:      id,
		ServiceID:   "svcid",
		ServiceName: "web",
		Name:        "web.2." + id,
		Slot:        2,
		Container:   api.ContainerSpec{Command: argv},
	}
}

func shSpec(script string) runtime.TaskSpec { return spec("/bin/sh", "-c", script) }

func start(t *testing.T, r *Runtime, s runtime.TaskSpec) runtime.Handle {
	t.Helper()
	h, err := r.Start(testCtx(t), s)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return h
}

func wait(t *testing.T, r *Runtime, id string) runtime.ExitStatus {
	t.Helper()
	st, err := r.Wait(testCtx(t), id)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return st
}

// waitForOutput waits until the task's stdout holds want, e.g. a "ready" line
// printed once its signal traps are set.
func waitForOutput(t *testing.T, r *Runtime, id, want string) {
	t.Helper()
	stdout, _, err := r.LogPaths(id)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testTimeout)
	for {
		data, _ := os.ReadFile(stdout)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never printed %q (stdout %q)", id, want, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLog(t *testing.T, r *Runtime, id string) (string, string) {
	t.Helper()
	stdout, stderr, err := r.LogPaths(id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(stdout)
	if err != nil {
		t.Fatal(err)
	}
	errOut, err := os.ReadFile(stderr)
	if err != nil {
		t.Fatal(err)
	}
	return string(out), string(errOut)
}

// gone reports whether a process no longer runs (it may be a zombie not yet
// reaped by whoever inherited it).
func gone(pid int) bool {
	_, state, err := procStat(pid)
	return err != nil || state == 'Z' || state == 'X'
}

// waitGone waits for a process to be gone.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pidOf(t *testing.T, h runtime.Handle) int {
	t.Helper()
	pid, err := strconv.Atoi(h.RuntimeID)
	if err != nil || pid <= 0 {
		t.Fatalf("runtime ID %q is not a pid", h.RuntimeID)
	}
	return pid
}

// awaitDropped is for a test whose runtime r is closed or dropped while
// its task id runs, as an agent that exits, and another runtime over the
// same root adopts the task. r still waits for the child it started
// (waitChild) and, once the task ends, records its exit in the task's
// folder. In a real agent that wait ends with the process; here it runs
// on, and must be done before the test's folder is removed, or the
// removal races with its write ("directory not empty"). The cleanup this
// registers runs after those registered later (the adopting runtime's
// shutdown, which stops the task) and before the folder's removal: it
// kills the task if it still runs, and waits until r recorded the exit.
func awaitDropped(t *testing.T, r *Runtime, id string) {
	t.Helper()
	t.Cleanup(func() {
		r.mu.Lock()
		tk := r.tasks[id]
		r.mu.Unlock()
		if tk == nil || !tk.child {
			return
		}
		select {
		case <-tk.done:
			return
		default:
		}
		_ = tk.signal(syscall.SIGKILL)
		select {
		case <-tk.done:
		case <-time.After(testTimeout):
			t.Errorf("the dropped runtime did not record task %s's exit", id)
		}
	})
}
