package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if err := testutil.RemoveImages(); err != nil {
			fmt.Fprintln(os.Stderr, "remove test images:", err)
		}
		os.Exit(code)
	}))
}

// testTimeout bounds every wait of the tests; it is generous on purpose.
const testTimeout = 60 * time.Second

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Images of the tests: the testapp, and the testapp with a HEALTHCHECK.
func appImage(t *testing.T) string {
	t.Helper()
	return testutil.BuildImage(t, "shoal-test/docker-runtime:app", testutil.TestAppDir(), "")
}

func healthImage(t *testing.T) string {
	t.Helper()
	return testutil.BuildImage(t, "shoal-test/docker-runtime:health", testutil.TestAppDir(),
		`HEALTHCHECK --interval=300ms --timeout=5s --retries=2 CMD ["/app", "health"]`)
}

// newNodeID returns a node ID of its own for a test, so that its Runtime
// lists only its containers.
func newNodeID() string { return "test-" + api.NewID() }

// newRuntime returns a Runtime of a new node; the node's containers and
// files are removed and the Runtime closed when the test ends.
func newRuntime(t *testing.T) *Runtime {
	t.Helper()
	return newRuntimeOf(t, newNodeID())
}

// newRuntimeOf returns a Runtime of the given node, closed when the test
// ends, when the node's containers and files are removed too.
func newRuntimeOf(t *testing.T, nodeID string) *Runtime {
	t.Helper()
	testutil.RequireDocker(t)
	r, err := New(testCtx(t), Options{NodeID: nodeID, NodeAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	cleanupNode(t, nodeID)
	return r
}

// cleanedNodes are the nodes whose cleanup is registered.
var cleanedNodes sync.Map

// cleanupNode removes, when the test ends, the node's containers and
// files. Registered once per node.
func cleanupNode(t *testing.T, nodeID string) {
	if _, loaded := cleanedNodes.LoadOrStore(nodeID, true); loaded {
		return
	}
	c := testutil.DockerClient(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		res, err := c.ContainerList(ctx, client.ContainerListOptions{
			All:     true,
			Filters: client.Filters{}.Add("label", LabelNodeID+"="+nodeID),
		})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, ctr := range res.Items {
			if _, err := c.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := os.RemoveAll(filepath.Join(DefaultFilesDir, nodeID)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		_ = os.Remove(DefaultFilesDir) // if empty
	})
}

// spec returns the spec of a new task of the "web" service running image.
func spec(image string, args ...string) runtime.TaskSpec {
	id := api.NewID()
	return runtime.TaskSpec{
		TaskID:      id,
		ServiceID:   "svc-" + id,
		ServiceName: "web",
		Name:        "web.1." + id,
		Slot:        1,
		Container: api.ContainerSpec{
			Image:  image,
			Args:   args,
			Labels: map[string]string{testutil.LabelTest: "1"},
		},
	}
}

func start(t *testing.T, r *Runtime, s runtime.TaskSpec) runtime.Handle {
	t.Helper()
	h, err := r.Start(testCtx(t), s)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return h
}

// waitReady waits until the testapp of a task is ready: it printed its
// "listening" line, once its signals are handled.
func waitReady(t *testing.T, r *Runtime, id string) {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	w := &lineWatch{want: "testapp listening on", seen: cancel}
	err := r.Logs(ctx, id, api.LogOptions{Follow: true, Tail: -1}, w)
	if !w.found {
		t.Fatalf("task %s never got ready (logs %q): %v", id, w.buf.String(), err)
	}
}

// lineWatch calls seen once what it is written holds want.
type lineWatch struct {
	want  string
	seen  func()
	buf   strings.Builder
	found bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.found && strings.Contains(w.buf.String(), w.want) {
		w.found = true
		w.seen()
	}
	return len(p), nil
}

func wait(t *testing.T, r *Runtime, id string) runtime.ExitStatus {
	t.Helper()
	st, err := r.Wait(testCtx(t), id)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	return st
}

func inspect(t *testing.T, id string) client.ContainerInspectResult {
	t.Helper()
	c := testutil.DockerClient(t)
	res, err := c.ContainerInspect(testCtx(t), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// get GETs a path of an endpoint, retrying until the task answers, and
// decodes its JSON answer into v.
func get(t *testing.T, addr, path string, v any) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	deadline := time.Now().Add(testTimeout)
	for {
		resp, err := c.Get("http://" + addr + path)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				if err := json.Unmarshal(body, v); err != nil {
					t.Fatalf("GET %s: %v: %s", path, err, body)
				}
				return
			}
			err = fmt.Errorf("status %s, %v: %s", resp.Status, rerr, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s from %s: %v", path, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// endpoint returns the address of the task's only endpoint.
func endpoint(t *testing.T, h runtime.Handle) string {
	t.Helper()
	if len(h.Endpoints) != 1 {
		t.Fatalf("endpoints %+v", h.Endpoints)
	}
	return h.Endpoints[0].Addr
}

// fileReport is what the testapp's /file answers.
type fileReport struct {
	Exists  bool   `json:"exists"`
	Error   string `json:"error"`
	Mode    string `json:"mode"`
	UID     int    `json:"uid"`
	GID     int    `json:"gid"`
	FSType  string `json:"fsType"`
	Content string `json:"content"`
}

// nextHealth returns the next status of a Health channel.
func nextHealth(t *testing.T, ch <-chan string) (string, bool) {
	t.Helper()
	select {
	case s, ok := <-ch:
		return s, ok
	case <-time.After(testTimeout):
		t.Fatal("no health status")
		return "", false
	}
}

// waitHealth reads a Health channel until it reports want.
func waitHealth(t *testing.T, ch <-chan string, want string) []string {
	t.Helper()
	var seen []string
	for {
		s, ok := nextHealth(t, ch)
		if !ok {
			t.Fatalf("health channel closed before %q; saw %q", want, seen)
		}
		seen = append(seen, s)
		if s == want {
			return seen
		}
	}
}

func dur(d time.Duration) *api.Duration {
	v := api.Duration(d)
	return &v
}
