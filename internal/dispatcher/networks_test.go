package dispatcher_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// nets lists an assignment's networks by name, sorted.
func nets(a api.Assignments) string {
	var out []string
	for _, n := range a.Networks {
		out = append(out, n.Spec.Name)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func netTask(id, node string, networks ...string) *api.Task {
	tk := newTask(id, node)
	for _, n := range networks {
		tk.Spec.Networks = append(tk.Spec.Networks, api.NetworkAttachment{Target: n})
	}
	return tk
}

// The agent plumbs a task with its networks' subnet, gateway and VXLAN ID:
// the assignments carry the networks of the node's tasks, once per session.
func TestAssignmentsCarryTheNetworksOfTheNodesTasks(t *testing.T) {
	e := newEnv(t, time.Hour)
	e.must(
		state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "net-a", Spec: api.NetworkSpec{Name: "appnet", IPAM: &api.IPAM{Config: []api.IPAMConfig{{Subnet: "10.9.1.0/24"}}}}}},
		state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: "net-b", Spec: api.NetworkSpec{Name: "other", IPAM: &api.IPAM{Config: []api.IPAMConfig{{Subnet: "10.9.2.0/24"}}}}}},
	)
	e.must(
		createTask(netTask("t1", "n1", "appnet")), assign("t1", "n1"),
		createTask(netTask("t2", "n1", "appnet")), assign("t2", "n1"),
		createTask(netTask("t3", "n2", "other")), assign("t3", "n2"),
	)
	e.start()
	s1 := e.register("n1", "10.0.0.1")
	a := assignments(t, s1)
	if len(a.Networks) != 1 || a.Networks[0].ID != "net-a" {
		t.Fatalf("n1's networks %q, want appnet only, once", nets(a))
	}
	if sub, gw := a.Networks[0].Subnet(); sub != "10.9.1.0/24" || gw != "10.9.1.1" || a.Networks[0].DriverState == nil || a.Networks[0].DriverState.VNI == 0 {
		t.Fatalf("appnet sent with subnet %q gateway %q driver state %+v, want its allocation", sub, gw, a.Networks[0].DriverState)
	}
	for _, tk := range a.Tasks {
		if len(tk.NetworksAttachments) != 1 || tk.NetworksAttachments[0].Network.ID != "net-a" {
			t.Fatalf("task %s attachments %+v, want one on net-a", tk.ID, tk.NetworksAttachments)
		}
	}
	// A new task on a network the agent has: not sent again; one on a new
	// network: that one.
	e.must(createTask(netTask("t4", "n1", "appnet", "other")), assign("t4", "n1"))
	if a := assignments(t, s1); len(a.Networks) != 1 || a.Networks[0].ID != "net-b" {
		t.Fatalf("incremental networks %q, want other only", nets(a))
	}
}
