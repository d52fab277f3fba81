package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout bounds every wait, so a bug fails a test instead of hanging
// it; it is not a timing assertion.
const testTimeout = 10 * time.Second

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const gib = 1 << 30

// mkNode is a ready, active linux worker offering both runtimes, with 4 CPUs
// and 8 GiB.
func mkNode(id string, mods ...func(*api.Node)) *api.Node {
	n := &api.Node{
		ID:   id,
		Spec: api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive},
		Description: api.NodeDescription{
			Hostname:  "host-" + id,
			Platform:  api.Platform{OS: "linux", Architecture: "amd64"},
			Resources: api.Resources{NanoCPUs: 4e9, MemoryBytes: 8 * gib},
			Runtimes:  []string{api.RuntimeProcess, api.RuntimeDocker},
		},
		Status: api.NodeStatus{State: api.NodeStateReady, Addr: "192.0.2.10:4000"},
	}
	for _, m := range mods {
		m(n)
	}
	return n
}

func down(n *api.Node)    { n.Status.State = api.NodeStateDown }
func paused(n *api.Node)  { n.Spec.Availability = api.AvailabilityPause }
func drained(n *api.Node) { n.Spec.Availability = api.AvailabilityDrain }
func processOnly(n *api.Node) {
	n.Description.Runtimes = []string{api.RuntimeProcess}
}
func withLabel(k, v string) func(*api.Node) {
	return func(n *api.Node) {
		if n.Spec.Labels == nil {
			n.Spec.Labels = map[string]string{}
		}
		n.Spec.Labels[k] = v
	}
}
func withCPUs(c int64) func(*api.Node) {
	return func(n *api.Node) { n.Description.Resources.NanoCPUs = c * 1e9 }
}

// mkTask is a pending process task of a replicated service slot, as the
// orchestrator makes it.
func mkTask(serviceID string, slot uint64, mods ...func(*api.Task)) *api.Task {
	tk := &api.Task{
		ID:           fmt.Sprintf("%s-%d", serviceID, slot),
		ServiceID:    serviceID,
		ServiceName:  serviceID,
		Slot:         slot,
		SpecVersion:  1,
		Spec:         api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"/bin/sleep", "60"}}},
		DesiredState: api.TaskStateRunning,
		Status:       api.TaskStatus{State: api.TaskStatePending, Timestamp: t0, Message: "pending task scheduling"},
	}
	for _, m := range mods {
		m(tk)
	}
	return tk
}

func image(tk *api.Task) { tk.Spec.ContainerSpec = api.ContainerSpec{Image: "nginx:1"} }
func constraints(cs ...string) func(*api.Task) {
	return func(tk *api.Task) {
		if tk.Spec.Placement == nil {
			tk.Spec.Placement = &api.Placement{}
		}
		tk.Spec.Placement.Constraints = append(tk.Spec.Placement.Constraints, cs...)
	}
}
func spreadOver(attr string) func(*api.Task) {
	return func(tk *api.Task) {
		if tk.Spec.Placement == nil {
			tk.Spec.Placement = &api.Placement{}
		}
		tk.Spec.Placement.Preferences = append(tk.Spec.Placement.Preferences, api.PlacementPreference{Spread: attr})
	}
}
func maxReplicas(m uint64) func(*api.Task) {
	return func(tk *api.Task) {
		if tk.Spec.Placement == nil {
			tk.Spec.Placement = &api.Placement{}
		}
		tk.Spec.Placement.MaxReplicas = m
	}
}
func reserveCPUs(c int64) func(*api.Task) {
	return func(tk *api.Task) {
		tk.Spec.Resources = &api.ResourceRequirements{Reservations: &api.Resources{NanoCPUs: c * 1e9}}
	}
}
func hostPort(port uint32, proto string) func(*api.Task) {
	return func(tk *api.Task) {
		if tk.Endpoint == nil {
			tk.Endpoint = &api.EndpointSpec{}
		}
		tk.Endpoint.Ports = append(tk.Endpoint.Ports, api.PortConfig{TargetPort: 80, PublishedPort: port, Protocol: proto, PublishMode: "host"})
	}
}

// runningOn makes the task one already placed and running on node.
func runningOn(node string) func(*api.Task) {
	return func(tk *api.Task) {
		tk.NodeID = node
		tk.Status = api.TaskStatus{State: api.TaskStateRunning, Timestamp: t0}
	}
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// cluster is a store filled through a LocalProposer.
type cluster struct {
	t     tb
	store *state.Store
	p     *state.LocalProposer
}

func newCluster(t tb, nodes []*api.Node, tasks []*api.Task) *cluster {
	t.Helper()
	s := state.NewStore()
	c := &cluster{t: t, store: s, p: &state.LocalProposer{Store: s}}
	var ops []state.Op
	for _, n := range nodes {
		ops = append(ops, state.Op{Kind: state.OpUpsertNode, Node: n})
	}
	for _, tk := range tasks {
		ops = append(ops, state.Op{Kind: state.OpCreateTask, Task: tk})
	}
	if len(ops) > 0 {
		c.apply(ops...)
	}
	return c
}

// apply writes ops as one atomic command.
func (c *cluster) apply(ops ...state.Op) state.Result {
	c.t.Helper()
	res, err := c.p.Propose(context.Background(), &state.Command{Time: t0, Atomic: true, Ops: ops})
	if err != nil || res.Err != nil {
		c.t.Fatalf("apply: %v %v", err, res.Err)
	}
	return res
}

// pending returns the tasks a scheduler pass would place.
func pendingTasks(tx *state.ReadTx) []*api.Task {
	var out []*api.Task
	for _, t := range tx.Tasks() {
		if t.Status.State == api.TaskStatePending && t.DesiredState <= api.TaskStateRunning {
			out = append(out, t)
		}
	}
	return out
}

// outcome is what Place decided for a task: a node, or a pending reason.
type outcome struct {
	node   string
	reason string
	wrote  bool // an op was returned for the task
}

// place runs one placement pass over the cluster, applies its ops, and
// returns the outcome of each pending task and the ops in order.
func (c *cluster) place() (map[string]outcome, []state.Op) {
	c.t.Helper()
	tx := c.store.Read()
	pending := pendingTasks(tx)
	ops := Place(pending, nodeInfos(tx))
	out := map[string]outcome{}
	for _, tk := range pending {
		out[tk.ID] = outcome{reason: tk.Status.Err}
	}
	for _, op := range ops {
		o, ok := out[op.ID]
		if !ok {
			c.t.Fatalf("Place wrote op %+v for a task that is not pending", op)
		}
		if o.wrote {
			c.t.Fatalf("Place wrote two ops for task %s", op.ID)
		}
		o.wrote = true
		switch op.Kind {
		case state.OpAssignTask:
			o.node = op.NodeID
		case state.OpPendingReason:
			o.reason = op.Message
		default:
			c.t.Fatalf("Place wrote op of kind %s", op.Kind)
		}
		out[op.ID] = o
	}
	if len(ops) > 0 {
		// Every op Place returns must be accepted by the store.
		res, err := c.p.Propose(context.Background(), &state.Command{Time: t0, Ops: ops})
		if err != nil || res.Err != nil || res.OpErrs != nil {
			c.t.Fatalf("placement ops refused: %v %v %v", err, res.Err, res.OpErrs)
		}
	}
	return out, ops
}

// placeOne places a single task and returns its outcome.
func placeOne(t *testing.T, nodes []*api.Node, tk *api.Task) outcome {
	t.Helper()
	c := newCluster(t, nodes, []*api.Task{tk})
	out, _ := c.place()
	return out[tk.ID]
}

// countBy counts the assignments of out by node.
func countBy(out map[string]outcome) map[string]int {
	m := map[string]int{}
	for _, o := range out {
		if o.node != "" {
			m[o.node]++
		}
	}
	return m
}
