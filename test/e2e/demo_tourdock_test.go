package e2e

import (
	"strings"
	"testing"
	"time"

	mobyclient "github.com/moby/moby/client"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/demo"
	dockerrt "github.com/shoalproject/shoal/internal/runtime/docker"
	"github.com/shoalproject/shoal/internal/testutil"
)

// `shoal demo --tour --runtime docker` plays the rebalance with
// containers: the extra nodes' agents share this host's Docker engine;
// two nodes join and nothing moves; after `service update --force`
// reference-data-api's containers run on more than one node (the new
// ones), each labelled with the node that runs it, and the app still
// answers through the ingress. Ctrl-C then leaves no container, link,
// rule, folder or process behind.
func TestDemoWalkthroughTourContainers(t *testing.T) {
	requireLong(t)
	testutil.RequireRoot(t)
	testutil.RequireDocker(t)
	dt := startDemoTour(t, signupBin(t), "--runtime", "docker")
	before := dt.waitFor(t, "nothing moved: ", 5*time.Minute)
	if in, all := onNewNodes(t, before); in != 0 || all != 2 {
		t.Errorf("after the nodes joined: %q; want none of the 2 tasks on the new nodes", before)
	}
	during := dt.waitFor(t, "during the update: ", 2*time.Minute)
	after := dt.waitFor(t, "spread: ", time.Minute)
	if in, all := onNewNodes(t, after); in != 2 || all != 2 {
		t.Errorf("after --force: %q; want both tasks on the new nodes", after)
	}
	dt.waitFor(t, "the app still answers", time.Minute)
	dt.waitFor(t, "The tour is over", time.Minute)
	t.Logf("load while the containers moved: %s", during)

	// The cluster and the engine agree, while the demo runs.
	ctx := ctxTimeout(t, 30*time.Second)
	c, host := dt.cluster(t, ctx)
	extraIDs := extraNodes(host)
	ts, err := c.TaskList(ctx, client.TaskFilter{Service: demo.API})
	if err != nil {
		t.Fatal(err)
	}
	healthy := demo.HealthyTasks(ts)
	on := map[string]bool{}
	dc := testutil.DockerClient(t)
	for _, tk := range healthy {
		on[tk.NodeID] = true
		if !strings.HasPrefix(host[tk.NodeID], "shoal-demo-") {
			t.Errorf("task %s of %s runs on %s; want an extra node", tk.ID, demo.API, host[tk.NodeID])
		}
		if tk.Spec.ContainerSpec.Image == "" {
			t.Errorf("task %s of %s is not a container: %+v", tk.ID, demo.API, tk.Spec.ContainerSpec)
			continue
		}
		info, err := dc.ContainerInspect(ctx, tk.Status.RuntimeID, mobyclient.ContainerInspectOptions{})
		if err != nil {
			t.Errorf("task %s's container %s: %v", tk.ID, tk.Status.RuntimeID, err)
			continue
		}
		if got := info.Container.Config.Labels[dockerrt.LabelNodeID]; got != tk.NodeID {
			t.Errorf("task %s's container is labelled with node %q; want its node %s", tk.ID, got, tk.NodeID)
		}
	}
	if len(healthy) != 2 || len(on) < 2 {
		t.Errorf("%s runs %d healthy tasks on %d nodes; want 2 on 2", demo.API, len(healthy), len(on))
	}
	dt.interrupt(t)
	noDemoContainers(t, dc, extraIDs)
}

// noDemoContainers checks that the engine holds no container of the
// demo's stacks, nor any of the extra nodes ids.
func noDemoContainers(t *testing.T, dc *mobyclient.Client, ids []string) {
	t.Helper()
	ctx := ctxTimeout(t, 30*time.Second)
	var filters []string
	for _, ns := range []string{demo.Stack, demo.Infrastructure} {
		filters = append(filters, dockerrt.LabelStackNamespace+"="+ns)
	}
	for _, id := range ids {
		filters = append(filters, dockerrt.LabelNodeID+"="+id)
	}
	for _, f := range filters {
		res, err := dc.ContainerList(ctx, mobyclient.ContainerListOptions{All: true, Filters: mobyclient.Filters{}.Add("label", f)})
		if err != nil {
			t.Fatal(err)
		}
		for _, ctr := range res.Items {
			t.Errorf("container %.12s (%s, %s) labelled %s left after the demo", ctr.ID, ctr.Names, ctr.State, f)
		}
	}
}

// Ctrl-C in the middle of the containers' rebalance (the forced update
// started containers on the extra nodes) leaves nothing behind: no
// container of the demo or of its nodes, besides what interrupt checks.
func TestDemoWalkthroughTourContainersInterrupted(t *testing.T) {
	requireLong(t)
	testutil.RequireRoot(t)
	testutil.RequireDocker(t)
	dt := startDemoTour(t, signupBin(t), "--runtime", "docker")
	dt.waitFor(t, "== 8.", 5*time.Minute)
	ctx := ctxTimeout(t, time.Minute)
	c, _ := dt.cluster(t, ctx)
	for !onExtraNode(t, ctx, c) {
		select {
		case <-ctx.Done():
			t.Fatal("no task of the demo ran on an extra node within a minute of the forced update")
		case <-time.After(100 * time.Millisecond):
		}
	}
	_, host := dt.cluster(t, ctx)
	extraIDs := extraNodes(host)
	dt.interrupt(t)
	noDemoContainers(t, testutil.DockerClient(t), extraIDs)
}

// extraNodes are the IDs of the demo's extra nodes in host (host names by
// ID).
func extraNodes(host map[string]string) []string {
	var ids []string
	for id, h := range host {
		if strings.HasPrefix(h, "shoal-demo-") {
			ids = append(ids, id)
		}
	}
	return ids
}
