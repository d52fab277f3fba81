package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/demo"
	"github.com/shoalproject/shoal/internal/testutil"
)

// The walkthrough of the README (and `shoal demo --tour`), played on a
// real cluster with the signup example as sandboxed process tasks, each
// outcome of the seed story asserted: a killed replica is replaced; with
// 2 replicas a kill fails no request; without sticky sessions form posts
// fail their anti-forgery check and with v2's sticky cookie none does; a
// prospect sent through the form reaches the database through the queue;
// v3's start-first rollout fails no request; a release whose health
// check fails is rolled back on its own; the demo's cleanup leaves none
// of its objects, and the node then removes the networks' links.
func TestDemoWalkthrough(t *testing.T) {
	requireLong(t)
	testutil.RequireRoot(t)
	walkthrough(t, signupBin(t), "")
}

// The same walkthrough with the services as containers of the image the
// demo builds FROM scratch (examples/signup/stack/docker), which the test
// removes at the end.
func TestDemoWalkthroughContainers(t *testing.T) {
	requireLong(t)
	testutil.RequireRoot(t)
	testutil.RequireDocker(t)
	bin := signupBin(t)
	image := fmt.Sprintf("shoal-e2e/demo-signup:p%d", os.Getpid())
	t.Cleanup(func() { // after the cluster's cleanup removed the containers
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := demo.RemoveImage(ctx, image); err != nil {
			t.Error(err)
		}
	})
	if err := demo.BuildImage(ctxTimeout(t, 2*time.Minute), bin, image); err != nil {
		t.Fatal(err)
	}
	walkthrough(t, bin, image)
}

// walkthrough plays the README's walkthrough, with the services as
// containers of image when it is set, else as processes of bin.
func walkthrough(t *testing.T, bin, image string) {
	start := time.Now()
	d, c := devClusterWith(t, daemon.DevConfig{Docker: true, IngressAddr: "127.0.0.1:0", DrainDelay: 500 * time.Millisecond})
	base := "http://" + d.IngressAddr()
	t.Cleanup(func() {
		if t.Failed() {
			dumpTaskLogs(t, d.DataDir())
		}
	})
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), what) }
	step("cluster up")
	ctx := ctxTimeout(t, 150*time.Second)
	e := &demo.Env{Client: c, Bin: bin, DBDir: t.TempDir(), StackDir: t.TempDir(), Password: "demo-test-pw", Image: image}
	if err := demo.WriteStackFiles(e.StackDir); err != nil {
		t.Fatal(err)
	}
	if err := demo.Setup(ctx, e); err != nil {
		t.Fatal(err)
	}
	step("set up")
	if err := demo.Up(ctx, e); err != nil {
		t.Fatal(err)
	}
	step("v1 up")

	// Self-healing: the killed replica is replaced by a new task.
	killed, repl, err := demo.KillOne(ctx, c, demo.Web)
	if err != nil {
		t.Fatal(err)
	}
	if repl.ID == killed.ID {
		t.Fatalf("the killed task %s was not replaced", killed.ID)
	}
	step("replaced " + killed.ID + " by " + repl.ID)

	// Two replicas: a kill fails no request.
	if err := demo.Scale(ctx, c, demo.Web, 2); err != nil {
		t.Fatal(err)
	}
	if err := demo.WaitHealthy(ctx, c); err != nil {
		t.Fatal(err)
	}
	load := demo.StartLoad(base+"/app/", 4)
	time.Sleep(time.Second)
	if _, _, err := demo.KillOne(ctx, c, demo.Web); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	ok, failed, errs := load.Stop()
	if failed != 0 || ok < 20 {
		t.Errorf("kill with 2 replicas: %d ok, %d failed %v; want none failed", ok, failed, errs)
	}
	step(fmt.Sprintf("kill with 2 replicas: %d ok, %d failed", ok, failed))

	// Without sticky sessions the anti-forgery check fails when the post
	// lands on the other replica.
	ok, failed, cookie, err := demo.FormTrials(base, 20, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.CheckForms(false, ok, failed, cookie); err != nil {
		t.Error(err)
	}
	step(fmt.Sprintf("v1 forms: %d ok, %d failed", ok, failed))

	// v2: the sticky cookie keeps each user on one replica.
	if _, err := demo.Deploy(ctx, e, "signup-v2.yml", demo.Stack); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := demo.WaitHealthy(ctx, c); err != nil {
		t.Fatal(err)
	}
	ok, failed, cookie, err = demo.FormTrials(base, 20, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.CheckForms(true, ok, failed, cookie); err != nil {
		t.Error(err)
	}
	step(fmt.Sprintf("v2 forms: %d ok, %d failed, cookie %s", ok, failed, cookie))

	// A prospect sent through the form is in the database.
	good, form, post, errPage, err := demo.SignUp(demo.Browser(), base, "walkthrough@example.com")
	if err != nil || !good {
		t.Fatalf("sign up: %v %s", err, errPage)
	}
	ps, err := demo.Prospects(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ps, func(p demo.Prospect) bool { return p.Email == "walkthrough@example.com" && p.Replica == post }) {
		t.Errorf("the prospect (form by %s, post by %s) is not in the database: %+v", form, post, ps)
	}
	step("prospect saved")

	// v3: start-first, no failed request.
	ok, failed, errs, most, err := demo.Rollout(ctx, e, "signup-v3.yml", base+"/app/")
	if err != nil {
		t.Fatal(err)
	}
	if failed != 0 || ok < 20 || most <= 2 {
		t.Errorf("v3 rollout: %d ok, %d failed %v, at most %d web tasks live; want none failed, more than 2 live (start-first)", ok, failed, errs, most)
	}
	web, err := c.ServiceInspect(ctx, demo.Web)
	if err != nil {
		t.Fatal(err)
	}
	if u := web.Spec.UpdateConfig; u == nil || u.Order != "start-first" || u.FailureAction != "rollback" {
		t.Errorf("v3 update config: %+v", u)
	}
	step(fmt.Sprintf("v3 rollout: %d ok, %d failed, %d live at most", ok, failed, most))

	// A bad release rolls back by itself.
	state, restored, err := demo.BadRelease(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if state != api.UpdateStateRollbackCompleted || !restored {
		t.Errorf("bad release: update state %s, spec restored %v; want rollback_completed and the previous spec", state, restored)
	}
	if err := demo.WaitHealthy(ctx, c); err != nil {
		t.Fatal(err)
	}
	step("bad release rolled back")

	// Cleanup removes what the demo made.
	cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	vnis := demo.NetworkVNIs(cctx, c)
	if len(vnis) != len(demo.Networks) {
		t.Errorf("VXLAN IDs of the demo's networks: %v", vnis)
	}
	if err := demo.Cleanup(cctx, c); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(cctx, 15*time.Second)
	defer cancel()
	if err := demo.WaitPlumbingGone(pctx, vnis); err != nil {
		t.Error(err)
	}
	for _, n := range demo.Networks {
		if _, err := c.NetworkInspect(cctx, n); err == nil {
			t.Errorf("network %s left after cleanup", n)
		}
	}
	if svcs, _ := c.ServiceList(cctx); len(svcs) != 0 {
		t.Errorf("%d services left after cleanup", len(svcs))
	}
	step("cleaned up")
}

// signupBin is the signup example program: $SHOAL_SIGNUP_BIN when set
// (built before taking the e2e lock: go build -o /tmp/signup
// ./examples/signup), else built here, on a budget of its own (a cold
// build of NATS and SQLite takes minutes on a busy machine).
func signupBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SHOAL_SIGNUP_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	bin, err := demo.Build(ctxTimeout(t, 15*time.Minute), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// dumpTaskLogs logs the last lines of every task's stderr in dataDir.
func dumpTaskLogs(t *testing.T, dataDir string) {
	logs, _ := filepath.Glob(filepath.Join(dataDir, "tasks", "*", "stderr.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		t.Logf("%s:\n%s", l, b)
	}
}

// requireLong skips a test that takes a minute or more unless
// SHOAL_E2E_LONG=1: the walkthroughs replay the whole seed story (60-90 s
// each, more on a busy machine) and the rebalance builds the example
// programs (177 s at a load of 13), which would push this package past go
// test's 10-minute limit; .ci/run runs them in a step of their own.
func requireLong(t *testing.T) {
	t.Helper()
	if os.Getenv("SHOAL_E2E_LONG") != "1" {
		t.Skip("a long walkthrough: set SHOAL_E2E_LONG=1 to run it (CI does, in its own step)")
	}
}
