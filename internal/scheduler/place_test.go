package scheduler

import (
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

func TestPlaceAssignsToReadyActiveNodeOfferingTheRuntime(t *testing.T) {
	nodes := []*api.Node{
		mkNode("a-down", down),
		mkNode("b-paused", paused),
		mkNode("c-drained", drained),
		mkNode("d-process", processOnly),
		mkNode("e-good"),
		mkNode("f-unknown", func(n *api.Node) { n.Status.State = api.NodeStateUnknown }),
	}
	var tasks []*api.Task
	for i := uint64(1); i <= 3; i++ {
		tasks = append(tasks, mkTask("img", i, image))
	}
	c := newCluster(t, nodes, tasks)
	out, _ := c.place()
	for id, o := range out {
		if o.node != "e-good" {
			t.Fatalf("task %s placed on %q (reason %q), want e-good", id, o.node, o.reason)
		}
	}
	tx := c.store.Read()
	for _, tk := range tasks {
		got := tx.Task(tk.ID)
		if got.Status.State != api.TaskStateAssigned || got.NodeID != "e-good" {
			t.Fatalf("stored task %s: %s on %q", tk.ID, got.Status.State, got.NodeID)
		}
	}
}

func TestPlaceNeverUsesDownPausedOrDrainedNodes(t *testing.T) {
	o := placeOne(t, []*api.Node{mkNode("n1", down), mkNode("n2", paused), mkNode("n3", drained)}, mkTask("svc", 1))
	if o.node != "" {
		t.Fatalf("placed on %s", o.node)
	}
	if want := "no suitable node (3 nodes not available for new tasks)"; o.reason != want {
		t.Fatalf("reason %q, want %q", o.reason, want)
	}
}

func TestExplainUnsupportedPlatform(t *testing.T) {
	o := placeOne(t, []*api.Node{mkNode("n1")}, mkTask("svc", 1, constraints("node.platform.os==windows")))
	if o.node != "" || o.reason != "no suitable node (unsupported platform on 1 node)" {
		t.Fatalf("outcome %+v", o)
	}
}

func TestExplainRuntimeNotAvailable(t *testing.T) {
	o := placeOne(t, []*api.Node{mkNode("n1", processOnly)}, mkTask("svc", 1, image))
	if o.node != "" || o.reason != "no suitable node (docker runtime not available on 1 node)" {
		t.Fatalf("outcome %+v", o)
	}
}

func TestExplainJoinsReasonsInPipelineOrderCountingEachNodeOnce(t *testing.T) {
	nodes := []*api.Node{
		// Fails readiness, platform and runtime: counted as not available.
		mkNode("n1", down, processOnly, func(n *api.Node) { n.Description.Platform.OS = "linux" }),
		// Fails platform and runtime: counted as an unsupported platform.
		mkNode("n2", processOnly),
		// Runs Windows but lacks the runtime.
		mkNode("n3", processOnly, func(n *api.Node) { n.Description.Platform.OS = "windows" }),
	}
	o := placeOne(t, nodes, mkTask("svc", 1, image, constraints("node.platform.os==windows")))
	want := "no suitable node (1 node not available for new tasks; unsupported platform on 1 node; docker runtime not available on 1 node)"
	if o.node != "" || o.reason != want {
		t.Fatalf("outcome %+v\nwant reason %q", o, want)
	}
}

func TestExplainCountsSeveralNodesPerReason(t *testing.T) {
	nodes := []*api.Node{
		mkNode("n1", withLabel("zone", "b")), mkNode("n2", withLabel("zone", "c")),
		mkNode("n3", down), mkNode("n4", down, withLabel("zone", "a")),
		mkNode("n5", withCPUs(1), withLabel("zone", "a")),
	}
	o := placeOne(t, nodes, mkTask("svc", 1, constraints("node.labels.zone==a"), reserveCPUs(2)))
	want := "no suitable node (2 nodes not available for new tasks; scheduling constraints not satisfied on 2 nodes; insufficient resources on 1 node)"
	if o.node != "" || o.reason != want {
		t.Fatalf("outcome %+v\nwant reason %q", o, want)
	}
}

func TestExplainNoNodes(t *testing.T) {
	o := placeOne(t, nil, mkTask("svc", 1))
	if o.node != "" || o.reason != "no suitable node (no nodes in the cluster)" {
		t.Fatalf("outcome %+v", o)
	}
}

func TestPendingReasonNotRewrittenWhenUnchanged(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1", down)}, []*api.Task{mkTask("svc", 1)})
	out, ops := c.place()
	if len(ops) != 1 || ops[0].Kind != state.OpPendingReason {
		t.Fatalf("first pass ops %+v, want one pending reason", ops)
	}
	idx := c.store.Index()
	out, ops = c.place()
	if len(ops) != 0 {
		t.Fatalf("second pass with nothing changed wrote %+v", ops)
	}
	if c.store.Index() != idx || c.store.Read().Task("svc-1").Status.Err != out["svc-1"].reason {
		t.Fatal("the store changed on a pass with nothing to do")
	}
	// A new reason is written.
	c.apply(state.Op{Kind: state.OpUpsertNode, Node: mkNode("n2", processOnly)})
	tk := mkTask("svc", 2, image)
	c.apply(state.Op{Kind: state.OpCreateTask, Task: tk})
	out, _ = c.place()
	if got := out["svc-1"]; got.node != "n2" {
		t.Fatalf("process task not placed on the new node: %+v", got)
	}
	if got := out["svc-2"]; !got.wrote || got.reason != "no suitable node (1 node not available for new tasks; docker runtime not available on 1 node)" {
		t.Fatalf("image task outcome %+v", got)
	}
}

func TestConstraintNodeLabelEquals(t *testing.T) {
	nodes := []*api.Node{mkNode("n1", withLabel("disk", "hdd")), mkNode("n2", withLabel("disk", "SSD")), mkNode("n3")}
	for i := uint64(1); i <= 3; i++ {
		o := placeOne(t, nodes, mkTask("svc", i, constraints("node.labels.disk==ssd")))
		if o.node != "n2" {
			t.Fatalf("task %d placed on %q (%s), want n2", i, o.node, o.reason)
		}
	}
}

func TestConstraintNodeLabelNotEquals(t *testing.T) {
	nodes := []*api.Node{mkNode("n1", withLabel("disk", "SSD")), mkNode("n2", withLabel("disk", "hdd"))}
	c := newCluster(t, nodes, []*api.Task{
		mkTask("svc", 1, constraints("node.labels.disk!=ssd")),
		mkTask("svc", 2, constraints("node.labels.disk!=ssd")),
	})
	out, _ := c.place()
	if out["svc-1"].node != "n2" || out["svc-2"].node != "n2" {
		t.Fatalf("outcomes %+v, want both on n2", out)
	}
	// A node without the label satisfies != only.
	bare := []*api.Node{mkNode("n3")}
	if o := placeOne(t, bare, mkTask("x", 1, constraints("node.labels.disk!=ssd"))); o.node != "n3" {
		t.Fatalf("!= on a missing label: %+v", o)
	}
	if o := placeOne(t, bare, mkTask("x", 1, constraints("node.labels.disk==ssd"))); o.reason != "no suitable node (scheduling constraints not satisfied on 1 node)" {
		t.Fatalf("== on a missing label: %+v", o)
	}
}

func TestConstraintHostnameCaseInsensitive(t *testing.T) {
	nodes := []*api.Node{mkNode("n1"), mkNode("n2", func(n *api.Node) { n.Description.Hostname = "Worker-B" })}
	if o := placeOne(t, nodes, mkTask("svc", 1, constraints("Node.Hostname == worker-b"))); o.node != "n2" {
		t.Fatalf("outcome %+v, want n2", o)
	}
	if o := placeOne(t, nodes, mkTask("svc", 1, constraints("node.hostname!=host-n1"))); o.node != "n2" {
		t.Fatalf("!= outcome %+v, want n2", o)
	}
}

func TestConstraintRole(t *testing.T) {
	nodes := []*api.Node{mkNode("n1"), mkNode("n2", func(n *api.Node) { n.Spec.Role = api.RoleManager }), mkNode("n3")}
	if o := placeOne(t, nodes, mkTask("svc", 1, constraints("node.role==MANAGER"))); o.node != "n2" {
		t.Fatalf("outcome %+v, want n2", o)
	}
	c := newCluster(t, nodes, []*api.Task{
		mkTask("w", 1, constraints("node.role!=manager")), mkTask("w", 2, constraints("node.role!=manager")),
		mkTask("w", 3, constraints("node.role!=manager")), mkTask("w", 4, constraints("node.role!=manager")),
	})
	out, _ := c.place()
	if got := countBy(out); got["n2"] != 0 || got["n1"] != 2 || got["n3"] != 2 {
		t.Fatalf("workers-only placement %v", got)
	}
}

func TestConstraintIPWithCIDR(t *testing.T) {
	addr := func(a string) func(*api.Node) { return func(n *api.Node) { n.Status.Addr = a } }
	nodes := []*api.Node{mkNode("n1", addr("10.1.0.5:4000")), mkNode("n2", addr("10.2.0.7:4000")), mkNode("n3", addr("garbage"))}
	if o := placeOne(t, nodes, mkTask("svc", 1, constraints("node.ip==10.2.0.0/16"))); o.node != "n2" {
		t.Fatalf("CIDR outcome %+v, want n2", o)
	}
	if o := placeOne(t, nodes, mkTask("svc", 1, constraints("node.ip==10.1.0.5"))); o.node != "n1" {
		t.Fatalf("exact IP outcome %+v, want n1", o)
	}
	if o := placeOne(t, nodes, mkTask("svc", 1, constraints("node.ip==192.168.0.0/16"))); o.reason != "no suitable node (scheduling constraints not satisfied on 3 nodes)" {
		t.Fatalf("no match outcome %+v", o)
	}
	c := newCluster(t, nodes, []*api.Task{mkTask("x", 1, constraints("node.ip!=10.0.0.0/8")), mkTask("x", 2, constraints("node.ip!=10.0.0.0/8"))})
	out, _ := c.place()
	if out["x-1"].node != "n3" || out["x-2"].node != "n3" {
		t.Fatalf("!= CIDR outcomes %+v, want n3 (its address is not in the range)", out)
	}
}

func TestSpreadServiceEvenlyOverEqualNodes(t *testing.T) {
	var tasks []*api.Task
	for i := uint64(1); i <= 6; i++ {
		tasks = append(tasks, mkTask("svc", i))
	}
	c := newCluster(t, []*api.Node{mkNode("n1"), mkNode("n2"), mkNode("n3")}, tasks)
	out, _ := c.place()
	if got := countBy(out); got["n1"] != 2 || got["n2"] != 2 || got["n3"] != 2 {
		t.Fatalf("placement %v, want 2 per node", got)
	}
}

func TestRankPrefersFewestTasksOfTheServiceThenFewestOverall(t *testing.T) {
	nodes := []*api.Node{mkNode("n1"), mkNode("n2"), mkNode("n3")}
	existing := []*api.Task{
		mkTask("a", 1, runningOn("n1")),                                  // n1: 1 of a
		mkTask("b", 1, runningOn("n2")), mkTask("b", 2, runningOn("n2")), // n2: 0 of a, 3 overall
		mkTask("b", 3, runningOn("n2")),
		mkTask("b", 4, runningOn("n3")), // n3: 0 of a, 1 overall
	}
	c := newCluster(t, nodes, append(existing, mkTask("a", 2)))
	out, _ := c.place()
	if got := out["a-2"].node; got != "n3" {
		t.Fatalf("a-2 placed on %q, want n3 (no task of a, fewest tasks)", got)
	}
	// Next: n2 is the only node without a task of a, though it is the busiest.
	c.apply(state.Op{Kind: state.OpCreateTask, Task: mkTask("a", 3)})
	out, _ = c.place()
	if got := out["a-3"].node; got != "n2" {
		t.Fatalf("a-3 placed on %q, want n2 (fewest tasks of the service first)", got)
	}
}

func TestRankIgnoresEndedTasks(t *testing.T) {
	ended := func(tk *api.Task) { tk.Status.State = api.TaskStateFailed }
	nodes := []*api.Node{mkNode("n1"), mkNode("n2")}
	c := newCluster(t, nodes, []*api.Task{
		mkTask("a", 1, runningOn("n1"), ended), mkTask("a", 2, runningOn("n1"), ended),
		mkTask("a", 3, runningOn("n2")),
		mkTask("a", 4),
	})
	out, _ := c.place()
	if got := out["a-4"].node; got != "n1" {
		t.Fatalf("a-4 placed on %q, want n1 (its tasks have ended)", got)
	}
}

func TestSpreadPreferenceAlternatesZones(t *testing.T) {
	nodes := []*api.Node{
		mkNode("n1", withLabel("zone", "a")), mkNode("n2", withLabel("zone", "a")), mkNode("n3", withLabel("zone", "b")),
	}
	zone := map[string]string{"n1": "a", "n2": "a", "n3": "b"}
	var tasks []*api.Task
	for i := uint64(1); i <= 6; i++ {
		tasks = append(tasks, mkTask("svc", i, spreadOver("node.labels.zone")))
	}
	c := newCluster(t, nodes, tasks)
	_, ops := c.place()
	if len(ops) != 6 {
		t.Fatalf("ops %+v, want 6 assignments", ops)
	}
	perZone := map[string]int{}
	for i, op := range ops {
		if op.Kind != state.OpAssignTask {
			t.Fatalf("op %d %+v", i, op)
		}
		z := zone[op.NodeID]
		perZone[z]++
		// After each placement the zones differ by at most one task.
		if d := perZone["a"] - perZone["b"]; d > 1 || d < -1 {
			t.Fatalf("after %d tasks zones hold a=%d b=%d", i+1, perZone["a"], perZone["b"])
		}
	}
	if perZone["a"] != 3 || perZone["b"] != 3 {
		t.Fatalf("zones a=%d b=%d, want 3 each", perZone["a"], perZone["b"])
	}
	// Inside zone a the tasks still spread over its nodes.
	if got := countBy(outcomesOf(ops)); got["n1"] == 0 || got["n2"] == 0 {
		t.Fatalf("zone a placement %v, want both nodes used", got)
	}
}

// outcomesOf reads the assignments of ops.
func outcomesOf(ops []state.Op) map[string]outcome {
	out := map[string]outcome{}
	for _, op := range ops {
		out[op.ID] = outcome{node: op.NodeID}
	}
	return out
}

func TestSpreadPreferenceCountsNodesWithoutTheLabelAsOneGroup(t *testing.T) {
	nodes := []*api.Node{
		mkNode("n1"), mkNode("n2"), mkNode("n3", withLabel("zone", "a")),
	}
	var tasks []*api.Task
	for i := uint64(1); i <= 4; i++ {
		tasks = append(tasks, mkTask("svc", i, spreadOver("node.labels.zone")))
	}
	c := newCluster(t, nodes, tasks)
	out, _ := c.place()
	got := countBy(out)
	if got["n3"] != 2 || got["n1"]+got["n2"] != 2 {
		t.Fatalf("placement %v, want 2 in zone a and 2 over the unlabelled nodes", got)
	}
}

func TestMaxReplicasPerNode(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1"), mkNode("n2")}, []*api.Task{
		mkTask("svc", 1, maxReplicas(1)), mkTask("svc", 2, maxReplicas(1)), mkTask("svc", 3, maxReplicas(1)),
	})
	out, _ := c.place()
	got := countBy(out)
	if got["n1"] != 1 || got["n2"] != 1 {
		t.Fatalf("placement %v, want one per node", got)
	}
	o := out["svc-3"]
	if o.node != "" || o.reason != "no suitable node (max replicas per node limit exceed on 2 nodes)" {
		t.Fatalf("third task %+v", o)
	}
	// The cap is per service: another service still fits.
	c.apply(state.Op{Kind: state.OpCreateTask, Task: mkTask("other", 1, maxReplicas(1))})
	out, _ = c.place()
	if out["other-1"].node == "" {
		t.Fatalf("another service's task was refused: %+v", out["other-1"])
	}
}

func TestResourceReservationsExhaustANode(t *testing.T) {
	nodes := []*api.Node{mkNode("n1", withCPUs(2)), mkNode("n2", withCPUs(1))}
	c := newCluster(t, nodes, []*api.Task{
		mkTask("old", 1, reserveCPUs(1), runningOn("n1")),
		mkTask("svc", 1, reserveCPUs(1)), mkTask("svc", 2, reserveCPUs(1)), mkTask("svc", 3, reserveCPUs(1)),
	})
	out, _ := c.place()
	if got := countBy(out); got["n1"] != 1 || got["n2"] != 1 {
		t.Fatalf("placement %v, want one on each node", got)
	}
	if o := out["svc-3"]; o.node != "" || o.reason != "no suitable node (insufficient resources on 2 nodes)" {
		t.Fatalf("third task %+v", o)
	}
}

func TestEndedTaskFreesItsReservation(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1", withCPUs(1))}, []*api.Task{
		mkTask("old", 1, reserveCPUs(1), runningOn("n1")),
		mkTask("svc", 1, reserveCPUs(1)),
	})
	out, _ := c.place()
	if out["svc-1"].node != "" {
		t.Fatalf("placed on a full node: %+v", out["svc-1"])
	}
	c.apply(state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: "old-1", Status: api.TaskStatus{State: api.TaskStateComplete}}})
	out, _ = c.place()
	if out["svc-1"].node != "n1" {
		t.Fatalf("not placed once the node's task ended: %+v", out["svc-1"])
	}
}

func TestHostModePublishedPortConflicts(t *testing.T) {
	c := newCluster(t, []*api.Node{mkNode("n1"), mkNode("n2")}, []*api.Task{
		mkTask("old", 1, hostPort(8080, ""), runningOn("n1")),
		mkTask("svc", 1, hostPort(8080, "tcp")), mkTask("svc", 2, hostPort(8080, "tcp")),
		mkTask("udp", 1, hostPort(8080, "udp")),
	})
	out, _ := c.place()
	if o := out["svc-1"]; o.node != "n2" {
		t.Fatalf("svc-1 %+v, want n2 (8080/tcp is taken on n1)", o)
	}
	if o := out["svc-2"]; o.node != "" || o.reason != "no suitable node (host-mode port already in use on 2 nodes)" {
		t.Fatalf("svc-2 %+v", o)
	}
	if o := out["udp-1"]; o.node == "" {
		t.Fatalf("8080/udp refused: %+v", o)
	}
}

func TestIngressPortsDoNotConflict(t *testing.T) {
	ingress := func(tk *api.Task) {
		tk.Endpoint = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"}}}
	}
	c := newCluster(t, []*api.Node{mkNode("n1")}, []*api.Task{mkTask("svc", 1, ingress), mkTask("svc", 2, ingress)})
	out, _ := c.place()
	if out["svc-1"].node != "n1" || out["svc-2"].node != "n1" {
		t.Fatalf("ingress tasks %+v, want both on n1", out)
	}
}

func TestGlobalTaskGoesOnlyToItsNode(t *testing.T) {
	forNode := func(id string) func(*api.Task) {
		return func(tk *api.Task) { tk.ID = "g-" + id; tk.Slot = 0; tk.NodeID = id }
	}
	nodes := []*api.Node{mkNode("n1"), mkNode("n2"), mkNode("n3")}
	c := newCluster(t, nodes, []*api.Task{mkTask("g", 0, forNode("n2")), mkTask("g", 0, forNode("n3"))})
	out, _ := c.place()
	if out["g-n2"].node != "n2" || out["g-n3"].node != "n3" {
		t.Fatalf("global tasks %+v", out)
	}
	// Its node unavailable: it waits, and only its node is explained.
	o := placeOne(t, []*api.Node{mkNode("n1"), mkNode("n2", down), mkNode("n3")}, mkTask("g", 0, forNode("n2")))
	if o.node != "" || o.reason != "no suitable node (1 node not available for new tasks)" {
		t.Fatalf("global task on a down node: %+v", o)
	}
}

func TestNodeInfosCountOnlyLivePlacedTasks(t *testing.T) {
	shutdownWanted := func(tk *api.Task) { tk.DesiredState = api.TaskStateShutdown }
	c := newCluster(t, []*api.Node{mkNode("n1", withCPUs(4))}, []*api.Task{
		mkTask("a", 1, reserveCPUs(1), runningOn("n1")),
		mkTask("a", 2, reserveCPUs(1), runningOn("n1"), func(tk *api.Task) { tk.Status.State = api.TaskStateFailed }),
		mkTask("a", 3, reserveCPUs(1), runningOn("n1"), shutdownWanted),
		mkTask("b", 1, reserveCPUs(1), func(tk *api.Task) { tk.NodeID = "n1" }), // pending global-style
		mkTask("c", 1, reserveCPUs(1), runningOn("gone")),
	})
	info := nodeInfos(c.store.Read())
	n := info["n1"]
	if n == nil || len(info) != 1 {
		t.Fatalf("nodeInfos %v", info)
	}
	// a-3, told to stop, still holds its reservation until it stopped.
	if n.total != 1 || n.serviceTasks["a"] != 1 || n.free.NanoCPUs != 2e9 {
		t.Fatalf("n1: total %d, a %d, free %d; want 1, 1, 2e9", n.total, n.serviceTasks["a"], n.free.NanoCPUs)
	}
	if n.free.MemoryBytes != 8*gib {
		t.Fatalf("memory %d", n.free.MemoryBytes)
	}
}

// A task told to stop (a scale down, an update) holds its host ports and
// reservations until it has stopped: a scale down then up must not place
// a task where the port is still bound.
func TestStoppingTaskHoldsItsHostPortAndReservation(t *testing.T) {
	for _, desired := range []api.TaskState{api.TaskStateShutdown, api.TaskStateRemove} {
		t.Run(desired.String(), func(t *testing.T) {
			stopping := func(tk *api.Task) { tk.DesiredState = desired }
			c := newCluster(t, []*api.Node{mkNode("n1", withCPUs(1))}, []*api.Task{
				mkTask("web", 2, hostPort(8080, ""), reserveCPUs(1), runningOn("n1"), stopping),
				mkTask("web", 3, hostPort(8080, "")),
				mkTask("cpu", 1, reserveCPUs(1)),
			})
			out, _ := c.place()
			if o := out["web-3"]; o.node != "" || o.reason != "no suitable node (host-mode port already in use on 1 node)" {
				t.Fatalf("web-3 %+v while web-2 still runs on n1 with 8080, want pending", o)
			}
			if o := out["cpu-1"]; o.node != "" {
				t.Fatalf("cpu-1 placed on n1 while web-2 still holds its CPU: %+v", o)
			}
			c.apply(state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: "web-2", Status: api.TaskStatus{State: api.TaskStateShutdown}}})
			out, _ = c.place()
			if out["web-3"].node != "n1" {
				t.Fatalf("web-3 %+v once web-2 stopped, want n1", out["web-3"])
			}
		})
	}
}
