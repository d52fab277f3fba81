package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// TestNoRebalanceOnJoinForceSpreads is the seed's last section: 4
// replicas on node A; node B joins and nothing moves (Swarm never stops
// healthy tasks to use a new node); `service update --force` reschedules
// them, 2 and 2.
func TestNoRebalanceOnJoinForceSpreads(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	ac, _ := newAgentCluster(t, ctx)
	a := ac.startAgent("agent-a", "127.0.0.2")
	spec := processSpec("web", 4, "sleep", "300")
	spec.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.role==worker"}}
	svc, err := ac.c.ServiceCreate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	before := runningOf(waitTasks(t, ctx, ac.c, "web", "4 running", nRunning(4)), svc.ID)
	if got := byNode(before); got[a.id] != 4 {
		t.Fatalf("web per node %v, want all 4 on agent-a", got)
	}

	b := ac.startAgent("agent-b", "127.0.0.3")
	waitCluster(t, ctx, ac.c, "agent-b ready", func(nodes map[string]*api.Node, _ []*api.Task) bool {
		return nodes[b.id] != nil && nodes[b.id].Status.State == api.NodeStateReady
	})
	// Longer than the node's heartbeat timeout and many controller
	// passes: time for a rebalance, were there one.
	time.Sleep(3 * time.Second)
	ts, err := ac.c.TaskList(ctx, clientFilter("web"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sortedIDs(live(ts)), sortedIDs(before); !slices.Equal(got, want) {
		t.Fatalf("after agent-b joined, web's live tasks are\n%swant the 4 on agent-a untouched", describe(ts))
	}

	ac.mustCLI("service", "update", "--force", "--detach", "web")
	_, ts = waitService(t, ctx, ac.c, "web", "the forced update to complete", updateCompleted(4))
	if got := byNode(running(ts)); got[a.id] != 2 || got[b.id] != 2 {
		t.Fatalf("web per node after --force %v, want 2 on agent-a and 2 on agent-b:\n%s", got, describe(ts))
	}
	for _, tk := range running(ts) {
		for _, old := range before {
			if tk.ID == old.ID {
				t.Errorf("task %s survived --force", tk.ID)
			}
		}
	}
}
