package sim

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDeployAndNodeLoss runs a small simulated cluster through what the
// benchmarks measure at scale: a deploy with a constraint and a spread
// preference reaches running, a rolling update of every task completes,
// the manager restarts and converges, and the tasks of a node that dies
// run elsewhere.
func TestDeployAndNodeLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{
		Dir:             t.TempDir(),
		Nodes:           12,
		Labels:          func(i int) map[string]string { return map[string]string{"zone": fmt.Sprint(i % 3), "tier": tier(i)} },
		Delays:          Delays{Accept: 5 * time.Millisecond, Start: 20 * time.Millisecond, Stop: 10 * time.Millisecond},
		HeartbeatPeriod: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.Deploy(ctx, []api.ServiceSpec{
		Service("a", 30, []string{"engine.labels.tier==app"}, "engine.labels.zone"),
		Service("b", 20, []string{"engine.labels.tier==app"}, "engine.labels.zone"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.Tasks != 50 || f.ToRunning <= 0 || f.RaftEntries == 0 || f.FalseDown != 0 {
		t.Fatalf("figures: %+v", f)
	}
	tx := c.Manager.Store().Read()
	zones := map[string]int{}
	for _, task := range tx.Tasks() {
		n := tx.Node(task.NodeID)
		if n.Description.EngineLabels["tier"] != "app" {
			t.Fatalf("task %s on node %s outside the constraint", task.ID, n.ID)
		}
		if task.ServiceID == tx.Services()[0].ID {
			zones[n.Description.EngineLabels["zone"]]++
		}
	}
	if len(zones) != 3 {
		t.Fatalf("spread over zones: %v", zones)
	}
	for _, z := range zones {
		if z < 6 || z > 14 {
			t.Fatalf("uneven spread over zones: %v", zones)
		}
	}

	u, err := c.RollingUpdate(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if u.Tasks != 50 || u.FalseDown != 0 || u.BeatMax <= 0 {
		t.Fatalf("update figures: %+v", u)
	}
	if _, _, err := c.Restart(ctx, 50); err != nil {
		t.Fatal(err)
	}
	tx = c.Manager.Store().Read()

	victim := c.Agents[1]
	lost := len(tx.TasksByNode(victim.NodeID()))
	if lost == 0 {
		t.Fatalf("node %s has no tasks", victim.NodeID())
	}
	victim.Kill()
	err = c.Wait(ctx, func(tx *state.ReadTx) bool {
		running := 0
		for _, task := range tx.Tasks() {
			if task.DesiredState == api.TaskStateRunning && task.Status.State == api.TaskStateRunning && task.NodeID != victim.NodeID() {
				running++
			}
		}
		return running == 50
	})
	if err != nil {
		t.Fatalf("the %d tasks of the dead node do not run elsewhere: %v", lost, err)
	}
}

func tier(i int) string {
	if i%4 == 3 {
		return "batch"
	}
	return "app"
}
