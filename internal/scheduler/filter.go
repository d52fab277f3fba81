package scheduler

import (
	"fmt"

	"github.com/shoalproject/shoal/api"
)

// filter is one placement check. Each filter explains its refusals, so the
// "no suitable node (...)" message falls out of the pipeline.
type filter interface {
	// setTask prepares the filter for t and reports whether it applies.
	setTask(t *api.Task) bool
	// check reports whether node n can take the task.
	check(n *nodeInfo) bool
	// explain describes why count nodes failed the check.
	explain(count int) string
}

func plural(n int) string {
	if n == 1 {
		return "1 node"
	}
	return fmt.Sprintf("%d nodes", n)
}

// readyFilter keeps nodes that are up and take new tasks.
type readyFilter struct{}

func (readyFilter) setTask(*api.Task) bool { return true }
func (readyFilter) check(n *nodeInfo) bool {
	return n.Status.State == api.NodeStateReady && n.Spec.Availability == api.AvailabilityActive
}
func (readyFilter) explain(c int) string { return plural(c) + " not available for new tasks" }

// runtimeFilter keeps nodes that offer the runtime the task needs.
type runtimeFilter struct{ runtime string }

func (f *runtimeFilter) setTask(t *api.Task) bool { f.runtime = t.Spec.Runtime(); return true }
func (f *runtimeFilter) check(n *nodeInfo) bool   { return n.HasRuntime(f.runtime) }
func (f *runtimeFilter) explain(c int) string {
	return fmt.Sprintf("%s runtime not available on %s", f.runtime, plural(c))
}

// platformFilter applies node.platform.* constraints.
type platformFilter struct{ cs []api.Constraint }

func (f *platformFilter) setTask(t *api.Task) bool {
	f.cs = f.cs[:0]
	for _, c := range t.Spec.Placement.ParsedConstraints() {
		if c.IsPlatform() {
			f.cs = append(f.cs, c)
		}
	}
	return len(f.cs) > 0
}
func (f *platformFilter) check(n *nodeInfo) bool { return matchAll(f.cs, n) }
func (f *platformFilter) explain(c int) string {
	return "unsupported platform on " + plural(c)
}

// networksFilter keeps nodes that can attach tasks to networks, for a
// task that has some: a Windows node has no network namespaces. Like an
// unmet constraint, and worded as Swarm words it. The node's description
// is its agent's claim about itself only (the dispatcher takes it from
// the node's own registration).
type networksFilter struct{}

func (networksFilter) setTask(t *api.Task) bool { return len(t.Spec.Networks) > 0 }
func (networksFilter) check(n *nodeInfo) bool   { return n.Description.Supports(api.FeatureNetworks) }
func (networksFilter) explain(c int) string     { return "networks not supported on " + plural(c) }

// constraintFilter applies every other placement constraint.
type constraintFilter struct{ cs []api.Constraint }

func (f *constraintFilter) setTask(t *api.Task) bool {
	f.cs = f.cs[:0]
	for _, c := range t.Spec.Placement.ParsedConstraints() {
		if !c.IsPlatform() {
			f.cs = append(f.cs, c)
		}
	}
	return len(f.cs) > 0
}
func (f *constraintFilter) check(n *nodeInfo) bool { return matchAll(f.cs, n) }
func (f *constraintFilter) explain(c int) string {
	return "scheduling constraints not satisfied on " + plural(c)
}

func matchAll(cs []api.Constraint, n *nodeInfo) bool {
	for _, c := range cs {
		if !c.Matches(n.Node) {
			return false
		}
	}
	return true
}

// resourceFilter keeps nodes with enough unreserved CPU and memory.
type resourceFilter struct{ want api.Resources }

func (f *resourceFilter) setTask(t *api.Task) bool {
	r := t.Spec.Resources
	if r == nil || r.Reservations == nil {
		return false
	}
	f.want = *r.Reservations
	return f.want.NanoCPUs > 0 || f.want.MemoryBytes > 0
}
func (f *resourceFilter) check(n *nodeInfo) bool {
	return n.free.NanoCPUs >= f.want.NanoCPUs && n.free.MemoryBytes >= f.want.MemoryBytes
}
func (f *resourceFilter) explain(c int) string { return "insufficient resources on " + plural(c) }

// hostPortFilter keeps nodes where the task's host-mode published ports are
// free.
type hostPortFilter struct{ ports []string }

func (f *hostPortFilter) setTask(t *api.Task) bool {
	f.ports = hostPorts(t)
	return len(f.ports) > 0
}
func (f *hostPortFilter) check(n *nodeInfo) bool {
	for _, p := range f.ports {
		if n.usedPorts[p] > 0 {
			return false
		}
	}
	return true
}
func (f *hostPortFilter) explain(c int) string {
	return "host-mode port already in use on " + plural(c)
}

func hostPorts(t *api.Task) []string {
	if t.Endpoint == nil {
		return nil
	}
	var out []string
	for _, p := range t.Endpoint.Ports {
		if p.PublishMode == "host" && p.PublishedPort != 0 {
			proto := p.Protocol
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, fmt.Sprintf("%d/%s", p.PublishedPort, proto))
		}
	}
	return out
}

// maxReplicasFilter caps the tasks of one service on a node.
type maxReplicasFilter struct {
	service string
	max     uint64
}

func (f *maxReplicasFilter) setTask(t *api.Task) bool {
	f.service = t.ServiceID
	f.max = 0
	if t.Spec.Placement != nil {
		f.max = t.Spec.Placement.MaxReplicas
	}
	return f.max > 0
}
func (f *maxReplicasFilter) check(n *nodeInfo) bool {
	return uint64(n.serviceTasks[f.service]) < f.max
}
func (f *maxReplicasFilter) explain(c int) string {
	return "max replicas per node limit exceed on " + plural(c)
}

// nodeIDFilter keeps only the node a task was made for (global services).
type nodeIDFilter struct{ id string }

func (f *nodeIDFilter) setTask(t *api.Task) bool { f.id = t.NodeID; return f.id != "" }
func (f *nodeIDFilter) check(n *nodeInfo) bool   { return n.ID == f.id }
func (f *nodeIDFilter) explain(c int) string     { return "" }
