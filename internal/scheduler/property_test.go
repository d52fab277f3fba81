package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

var propConstraints = []string{
	"node.labels.zone==a", "node.labels.zone!=a", "node.platform.os==linux",
	"node.role==manager", "node.role!=manager", "node.hostname!=host-n0",
}

func genNode(t *rapid.T, i int) *api.Node {
	n := mkNode(fmt.Sprintf("n%d", i))
	n.Status.State = rapid.SampledFrom([]string{api.NodeStateReady, api.NodeStateReady, api.NodeStateReady, api.NodeStateDown}).Draw(t, "state")
	n.Spec.Availability = rapid.SampledFrom([]string{api.AvailabilityActive, api.AvailabilityActive, api.AvailabilityActive, api.AvailabilityPause, api.AvailabilityDrain}).Draw(t, "availability")
	n.Spec.Role = rapid.SampledFrom([]string{api.RoleWorker, api.RoleManager}).Draw(t, "role")
	n.Description.Runtimes = rapid.SampledFrom([][]string{
		{api.RuntimeProcess, api.RuntimeDocker}, {api.RuntimeProcess}, {api.RuntimeDocker}, nil,
	}).Draw(t, "runtimes")
	n.Description.Platform.OS = rapid.SampledFrom([]string{"linux", "linux", "windows"}).Draw(t, "os")
	if z := rapid.SampledFrom([]string{"a", "b", ""}).Draw(t, "zone"); z != "" {
		n.Spec.Labels = map[string]string{"zone": z}
	}
	n.Description.Resources.NanoCPUs = int64(rapid.IntRange(0, 4).Draw(t, "cpus")) * 1e9
	return n
}

type propService struct {
	id          string
	image       bool
	constraints []string
	spread      bool
	maxReplicas uint64
	cpus        int64
	port        uint32
	tasks       int
}

func (s propService) plain() bool {
	return len(s.constraints) == 0 && !s.spread && s.maxReplicas == 0 && s.cpus == 0 && s.port == 0
}

func genService(t *rapid.T, i int) propService {
	s := propService{id: fmt.Sprintf("s%d", i), tasks: rapid.IntRange(1, 8).Draw(t, "tasks")}
	s.image = rapid.Bool().Draw(t, "image")
	if rapid.Bool().Draw(t, "plain") {
		return s
	}
	s.constraints = rapid.SliceOfN(rapid.SampledFrom(propConstraints), 0, 2).Draw(t, "constraints")
	s.spread = rapid.Bool().Draw(t, "spread")
	s.maxReplicas = rapid.Uint64Range(0, 2).Draw(t, "maxReplicas")
	s.cpus = int64(rapid.IntRange(0, 2).Draw(t, "taskCPUs"))
	if rapid.Bool().Draw(t, "hostPort") {
		s.port = 8080
	}
	return s
}

func (s propService) task(slot uint64) *api.Task {
	var mods []func(*api.Task)
	if s.image {
		mods = append(mods, image)
	}
	if len(s.constraints) > 0 {
		mods = append(mods, constraints(s.constraints...))
	}
	if s.spread {
		mods = append(mods, spreadOver("node.labels.zone"))
	}
	if s.maxReplicas > 0 {
		mods = append(mods, maxReplicas(s.maxReplicas))
	}
	if s.cpus > 0 {
		mods = append(mods, reserveCPUs(s.cpus))
	}
	if s.port != 0 {
		mods = append(mods, hostPort(s.port, "tcp"))
	}
	return mkTask(s.id, slot, mods...)
}

// oracleNode is what a node holds, recomputed from the store without the
// scheduler's code.
type oracleNode struct {
	node      *api.Node
	cpus      int64
	perSvc    map[string]int
	portsUsed map[string]int
}

func oracle(tx *state.ReadTx) map[string]*oracleNode {
	out := map[string]*oracleNode{}
	for _, n := range tx.Nodes() {
		out[n.ID] = &oracleNode{node: n, perSvc: map[string]int{}, portsUsed: map[string]int{}}
	}
	for _, tk := range tx.Tasks() {
		on := out[tk.NodeID]
		if on == nil || !tk.Live() || tk.Status.State < api.TaskStateAssigned {
			continue
		}
		on.perSvc[tk.ServiceID]++
		if r := tk.Spec.Resources; r != nil && r.Reservations != nil {
			on.cpus += r.Reservations.NanoCPUs
		}
		if tk.Endpoint != nil {
			for _, p := range tk.Endpoint.Ports {
				if p.PublishMode == "host" {
					on.portsUsed[fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)]++
				}
			}
		}
	}
	return out
}

// eligible reports whether the node is up, takes tasks and runs tk's kind.
func eligible(n *api.Node, tk *api.Task) bool {
	rt := api.RuntimeProcess
	if tk.Spec.ContainerSpec.Image != "" {
		rt = api.RuntimeDocker
	}
	return n.Status.State == api.NodeStateReady && n.Spec.Availability == api.AvailabilityActive && n.HasRuntime(rt)
}

// satisfies reports whether on, holding what it holds (with tk counted
// when placed says so), obeys every rule of tk.
func satisfies(on *oracleNode, tk *api.Task, placed bool) error {
	if !eligible(on.node, tk) {
		return fmt.Errorf("node %s is not eligible", on.node.ID)
	}
	for _, c := range tk.Spec.Placement.ParsedConstraints() {
		if !c.Matches(on.node) {
			return fmt.Errorf("node %s fails %s==%v %s", on.node.ID, c.Key, c.Equal, c.Value)
		}
	}
	extra := 0
	if !placed {
		extra = 1
	}
	var want int64
	if r := tk.Spec.Resources; r != nil && r.Reservations != nil {
		want = r.Reservations.NanoCPUs
	}
	if want > 0 && on.cpus+int64(extra)*want > on.node.Description.Resources.NanoCPUs {
		return fmt.Errorf("node %s overcommitted: %d reserved of %d", on.node.ID, on.cpus+int64(extra)*want, on.node.Description.Resources.NanoCPUs)
	}
	if p := tk.Spec.Placement; p != nil && p.MaxReplicas > 0 && uint64(on.perSvc[tk.ServiceID]+extra) > p.MaxReplicas {
		return fmt.Errorf("node %s holds %d tasks of %s, max %d", on.node.ID, on.perSvc[tk.ServiceID]+extra, tk.ServiceID, p.MaxReplicas)
	}
	if tk.Endpoint != nil {
		for _, p := range tk.Endpoint.Ports {
			key := fmt.Sprintf("%d/%s", p.PublishedPort, p.Protocol)
			if p.PublishMode == "host" && on.portsUsed[key]+extra > 1 {
				return fmt.Errorf("node %s publishes %s twice", on.node.ID, key)
			}
		}
	}
	return nil
}

// TestPlacementsObeyEveryFilterAndSpreadEvenly: for random clusters and
// batches, every assignment satisfies all the rules of its task, a task left
// pending fits no node, and a service without placement rules is spread
// over its eligible nodes within one task.
func TestPlacementsObeyEveryFilterAndSpreadEvenly(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var nodes []*api.Node
		for i := range rapid.IntRange(0, 6).Draw(rt, "nodes") {
			nodes = append(nodes, genNode(rt, i))
		}
		// Tasks already running, within each node's room.
		var tasks []*api.Task
		reserved := map[string]int64{}
		portTaken := map[string]bool{}
		for i := range rapid.IntRange(0, 5).Draw(rt, "preexisting") {
			if len(nodes) == 0 {
				break
			}
			n := rapid.SampledFrom(nodes).Draw(rt, "preNode")
			mods := []func(*api.Task){runningOn(n.ID)}
			if rapid.Bool().Draw(rt, "preCPU") && reserved[n.ID]+1e9 <= n.Description.Resources.NanoCPUs {
				reserved[n.ID] += 1e9
				mods = append(mods, reserveCPUs(1))
			}
			if rapid.Bool().Draw(rt, "prePort") && !portTaken[n.ID] {
				portTaken[n.ID] = true
				mods = append(mods, hostPort(8080, "tcp"))
			}
			tasks = append(tasks, mkTask("pre", uint64(i+1), mods...))
		}
		var svcs []propService
		for i := range rapid.IntRange(1, 3).Draw(rt, "services") {
			s := genService(rt, i)
			svcs = append(svcs, s)
			for slot := 1; slot <= s.tasks; slot++ {
				tasks = append(tasks, s.task(uint64(slot)))
			}
		}
		c := newCluster(rt, nodes, tasks)
		out, _ := c.place()

		tx := c.store.Read()
		on := oracle(tx)
		for id, o := range out {
			tk := tx.Task(id)
			if o.node != "" {
				if tk.Status.State != api.TaskStateAssigned || tk.NodeID != o.node {
					rt.Fatalf("task %s stored as %s on %q after assignment to %s", id, tk.Status.State, tk.NodeID, o.node)
				}
				if err := satisfies(on[o.node], tk, true); err != nil {
					rt.Fatalf("task %s assigned against its rules: %v", id, err)
				}
				continue
			}
			if !strings.HasPrefix(tk.Status.Err, "no suitable node") {
				rt.Fatalf("pending task %s has reason %q", id, tk.Status.Err)
			}
			for _, n := range on {
				if err := satisfies(n, tk, false); err == nil {
					rt.Fatalf("task %s left pending (%s) though node %s fits it", id, tk.Status.Err, n.node.ID)
				}
			}
		}
		for _, s := range svcs {
			if !s.plain() {
				continue
			}
			probe := s.task(1)
			min, max, any := 1<<30, -1, false
			for _, n := range on {
				if !eligible(n.node, probe) {
					continue
				}
				any = true
				c := n.perSvc[s.id]
				min, max = minInt(min, c), maxInt(max, c)
			}
			if any && max-min > 1 {
				counts := map[string]int{}
				for id, n := range on {
					counts[id] = n.perSvc[s.id]
				}
				rt.Fatalf("service %s spread unevenly over eligible nodes: %v", s.id, counts)
			}
		}
	})
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
