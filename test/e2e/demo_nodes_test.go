package e2e

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/demo"
	"github.com/shoalproject/shoal/internal/testutil"
)

// The walkthrough's last step, on a cluster of real nodes (a manager and,
// later, two workers, each in a network namespace of its own): the demo
// runs on the manager alone; two nodes join and nothing moves; `service
// update --force` of reference-data-api spreads its two replicas over
// the new nodes, where they run healthy (their health checks pass, and
// they reach the overlay networks of the stack).
func TestDemoRebalance(t *testing.T) {
	requireLong(t) // builds the example programs: minutes on a busy machine
	testutil.RequireRoot(t)
	bin := signupBin(t)
	start := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), what) }
	ctx := ctxTimeout(t, 180*time.Second)
	edge := []string{"--ingress", "off", "--publish-addr", "off"}
	lc := newLabClusterWith(t, ctx, edge)
	e := &demo.Env{Client: lc.c, Bin: bin, DBDir: t.TempDir(), StackDir: t.TempDir(), Password: "demo-test-pw"}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := demo.Cleanup(cctx, lc.c); err != nil {
			t.Errorf("demo cleanup: %v", err)
		}
	})
	if err := demo.WriteStackFiles(e.StackDir); err != nil {
		t.Fatal(err)
	}
	if err := demo.Setup(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := demo.Up(ctx, e); err != nil {
		t.Fatal(err)
	}
	before, err := demo.Placement(ctx, lc.c, demo.API)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 1 || before[lc.devID()] != 2 {
		t.Fatalf("before the nodes join, %s runs %v (by node); want its 2 replicas on the manager %s", demo.API, before, lc.devID())
	}
	step("v1 up on the manager")

	lc.addAgent("n1", edge)
	lc.addAgent("n2", edge)
	waitCluster(t, ctx, lc.c, "3 nodes ready", func(nodes map[string]*api.Node, _ []*api.Task) bool {
		ready := 0
		for _, n := range nodes {
			if n.Status.State == api.NodeStateReady {
				ready++
			}
		}
		return ready == 3
	})
	if got, err := demo.Placement(ctx, lc.c, demo.API); err != nil || !maps.Equal(got, before) {
		t.Fatalf("after two nodes joined, %s runs %v (%v); want nothing moved: %v", demo.API, got, err, before)
	}
	step("n1 and n2 joined, nothing moved")

	if err := demo.ForceUpdate(ctx, lc.c, demo.API); err != nil {
		t.Fatal(err)
	}
	after, err := demo.Placement(ctx, lc.c, demo.API)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2"} {
		if after[lc.agents[n].id] != 1 {
			t.Errorf("after --force, %s runs %v (by node); want one replica on each new node (%s: %s)", demo.API, after, n, lc.agents[n].id)
		}
	}
	step("forced update spread the replicas over n1 and n2")
}
