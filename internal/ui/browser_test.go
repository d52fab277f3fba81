package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
)

// browser finds Debian's chromium; without one the browser tests skip,
// unless SHOAL_REQUIRE_BROWSER=1 (CI), under which they fail.
func browser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SHOAL_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium found, and SHOAL_REQUIRE_BROWSER=1: apt-get install -y chromium")
	}
	t.Skip("no chromium found (apt-get install -y chromium); SHOAL_REQUIRE_BROWSER=1 makes this a failure")
	return ""
}

// artifacts is the folder screenshots go to: SHOAL_ARTIFACTS if set, else
// a folder of the test's, printed.
func artifacts(t *testing.T) string {
	dir := os.Getenv("SHOAL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// tab opens a headless chromium tab of width×height.
func tab(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser(t)), chromedp.NoSandbox, chromedp.WindowSize(width, height))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// startCluster starts a dev cluster serving the dashboard; its services
// are removed and their processes stopped at the end.
func startCluster(t *testing.T) (*daemon.Dev, *client.Client) {
	t.Helper()
	d, err := daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: t.TempDir(), UIAddr: "127.0.0.1:0", DockerAPISocket: daemon.DockerAPIOff,
		HeartbeatPeriod: 500 * time.Millisecond, IngressAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(d.Host())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		svcs, _ := c.ServiceList(ctx)
		for _, s := range svcs {
			_ = c.ServiceRemove(ctx, s.ID)
		}
		for ctx.Err() == nil { // the agent stops the processes
			ts, err := c.TaskList(ctx, client.TaskFilter{})
			if err != nil || len(ts) == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err := d.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d, c
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// click clicks the element sel names, found at the moment of the click:
// the page renders its tables again on every cluster event, so a node
// found first may be gone when chromedp's Click reaches it ("Could not
// find node with given id", seen in CI). It waits for the element as
// Click does.
func click(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	q, err := json.Marshal(sel)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, what+" ("+sel+")", fmt.Sprintf(`(e => e ? (e.click(), true) : false)(document.querySelector(%s))`, q))
}

// waitFor polls the page until the JavaScript expression is true.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(45*time.Second), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 3000)`))
		t.Fatalf("waiting until %s: %v\npage:\n%s", what, err, state)
	}
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

const replicasOf = `(n => (document.querySelector('tr[data-service="' + n + '"] [data-replicas]') || {}).textContent)`

// TestBrowserDashboard drives the dashboard in chromium as an operator
// would: log in, watch a service, scale it, lose a task, update, roll back.
func TestBrowserDashboard(t *testing.T) {
	ctx := tab(t, 1440, 900)
	dir := artifacts(t)
	d, c := startCluster(t)
	bg := context.Background()
	svc, err := c.ServiceCreate(bg, api.ServiceSpec{Name: "web", Labels: map[string]string{api.StackNamespaceLabel: "shop"},
		Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "3600"}}},
		// Slow enough that the progress bar is seen.
		UpdateConfig: &api.UpdateConfig{Parallelism: 1, Delay: api.Duration(1500 * time.Millisecond), Monitor: api.Duration(500 * time.Millisecond), Order: api.UpdateOrderStopFirst}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"api", "worker"} {
		spec := api.ServiceSpec{Name: name, Labels: map[string]string{api.StackNamespaceLabel: "shop"},
			Mode:         api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "3600"}}}}
		if name == "api" { // behind the ingress, for the routing table
			r := routed(name, 1, true)
			spec.EndpointSpec = r.EndpointSpec
			maps.Copy(spec.Labels, r.Labels)
		}
		if _, err := c.ServiceCreate(bg, spec); err != nil {
			t.Fatal(err)
		}
	}

	// Log in with the one-time URL; the service and its replicas show.
	// The URL `shoal ui url` prints, asked of the API socket.
	login, err := c.UILoginURL(bg)
	if err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "open the login URL", chromedp.Navigate(login))
	waitFor(t, ctx, "web shows 2/2", replicasOf+`("web") === "2/2"`)
	waitFor(t, ctx, "the event stream is live", `document.getElementById("live").classList.contains("on")`)
	if u, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); u != "http://"+d.UIAddr()+"/ui/" {
		t.Fatalf("after login the browser is at %q: the token should leave the address bar", u)
	}
	screenshot(t, ctx, dir, "1-overview.png")

	// Scale from the UI: the count changes live (nothing polls; the
	// event stream makes the page read the state again).
	click(t, ctx, "open web", `tr[data-service="web"]`)
	waitFor(t, ctx, "web's tasks show", `document.querySelectorAll('table[data-tasks="web"] tr[data-task]:not(.ended)').length === 2`)
	do(t, ctx, "scale web to 3", chromedp.Evaluate[chromedp.Void](`(() => { const i = document.querySelector('input[data-scale]'); i.value = "3"; i.dispatchEvent(new Event("input", {bubbles: true})); })()`))
	click(t, ctx, "scale web to 3", `button[data-act="scale"]`)
	waitFor(t, ctx, "web shows 3/3", replicasOf+`("web") === "3/3"`)
	if s, _ := c.ServiceInspect(bg, "web"); s.Spec.Mode.Replicas() != 3 {
		t.Fatalf("web has %d replicas after scaling in the UI, want 3", s.Spec.Mode.Replicas())
	}
	screenshot(t, ctx, dir, "2-scaled.png")

	// Kill a task's process: it shows as failed and a replacement runs.
	ts, err := c.TaskList(bg, client.TaskFilter{Service: svc.ID, DesiredState: "running"})
	if err != nil || len(ts) == 0 {
		t.Fatalf("tasks of web: %v %v", len(ts), err)
	}
	victim := ts[0]
	pid, err := strconv.Atoi(victim.Status.RuntimeID)
	if err != nil {
		t.Fatalf("task %s has runtime ID %q, want a PID", victim.ID, victim.Status.RuntimeID)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the killed task shows as ended", fmt.Sprintf(`(r => r && r.classList.contains("ended") && /failed|complete/.test(r.innerText))(document.querySelector('tr[data-task="%s"]'))`, victim.ID))
	waitFor(t, ctx, "a replacement runs", `Array.from(document.querySelectorAll('table[data-tasks="web"] tr[data-task]:not(.ended)')).filter(r => r.querySelector(".state.running")).length === 3`)
	screenshot(t, ctx, dir, "3-replaced.png")

	// Force an update from the UI and watch its progress bar move.
	click(t, ctx, "force update", `button[data-act="force"]`)
	waitFor(t, ctx, "the progress bar shows", `!!document.querySelector('tr[data-service="web"] progress')`)
	screenshot(t, ctx, dir, "4-updating.png")
	waitFor(t, ctx, "the progress bar moves", `(p => p && p.value >= 1)(document.querySelector('tr[data-service="web"] progress'))`)
	screenshot(t, ctx, dir, "5-update-progress.png")
	waitFor(t, ctx, "the update completes", `/completed/.test(document.querySelector('tr[data-service="web"]').innerText)`)
	after, _ := c.ServiceInspect(bg, "web")
	if after.Spec.TaskTemplate.ForceUpdate != 1 {
		t.Fatalf("ForceUpdate %d after the UI's force update, want 1", after.Spec.TaskTemplate.ForceUpdate)
	}

	// Roll back from the version history to the scaled spec before the
	// force update.
	rev := after.Revision - 1
	click(t, ctx, "roll back from the history", fmt.Sprintf(`table[data-history="web"] button[data-to="%d"]`, rev))
	waitFor(t, ctx, "the rollback shows", `/rollback/.test(document.querySelector('tr[data-service="web"]').innerText)`)
	screenshot(t, ctx, dir, "6-rollback.png")
	waitFor(t, ctx, "the rollback completes", `/rollback completed/.test(document.querySelector('tr[data-service="web"]').innerText) && `+replicasOf+`("web") === "3/3"`)
	back, _ := c.ServiceInspect(bg, "web")
	if back.Spec.TaskTemplate.ForceUpdate != 0 || back.Spec.Mode.Replicas() != 3 {
		t.Fatalf("after the rollback: ForceUpdate %d, replicas %d; want 0 and 3", back.Spec.TaskTemplate.ForceUpdate, back.Spec.Mode.Replicas())
	}
	waitFor(t, ctx, "the feed shows the changes", `document.querySelectorAll("#feed li").length > 5`)
	screenshot(t, ctx, dir, "7-rolled-back.png")
	// The whole page, routing table included (README's picture).
	do(t, ctx, "a taller window", chromedp.EmulateViewport(1440, 1000))
	waitFor(t, ctx, "api's router shows", `!!document.querySelector('tr.route[data-route-service="api"] [data-backend]')`)
	screenshot(t, ctx, dir, "9-page.png")
}

func TestUILoginURLNeedsADashboard(t *testing.T) {
	d, err := daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: t.TempDir(), DockerAPISocket: daemon.DockerAPIOff})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, _ := client.New(d.Host())
	if _, err := c.UILoginURL(context.Background()); !client.IsNotFound(err) || !strings.Contains(err.Error(), "--ui") {
		t.Fatalf("login URL of a manager without --ui: %v, want not found naming --ui", err)
	}
}
