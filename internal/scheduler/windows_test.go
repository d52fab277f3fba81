package scheduler

import (
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// windowsNode is a Windows worker as its agent describes itself: no
// network namespaces, so no shoal networks.
func windowsNode(n *api.Node) {
	n.Description.Platform = api.Platform{OS: "windows", Architecture: "x86_64"}
	n.Description.Unsupported = []string{api.FeatureNetworks}
}

func withNetworks(names ...string) func(*api.Task) {
	return func(tk *api.Task) {
		for _, n := range names {
			tk.Spec.Networks = append(tk.Spec.Networks, api.NetworkAttachment{Target: n})
		}
	}
}

// netCluster is newCluster with the networks the tasks attach to.
func netCluster(t *testing.T, nodes []*api.Node, tasks []*api.Task) *cluster {
	t.Helper()
	c := newCluster(t, nodes, nil)
	seen := map[string]bool{}
	var ops []state.Op
	for _, tk := range tasks {
		for _, a := range tk.Spec.Networks {
			if !seen[a.Target] {
				seen[a.Target] = true
				ops = append(ops, state.Op{Kind: state.OpCreateNetwork, Network: &api.Network{ID: a.Target, Spec: api.NetworkSpec{Name: a.Target}}})
			}
		}
		ops = append(ops, state.Op{Kind: state.OpCreateTask, Task: tk})
	}
	c.apply(ops...)
	return c
}

func placeOneNet(t *testing.T, nodes []*api.Node, tk *api.Task) outcome {
	t.Helper()
	out, _ := netCluster(t, nodes, []*api.Task{tk}).place()
	return out[tk.ID]
}

func TestExplainNetworksNotSupported(t *testing.T) {
	o := placeOneNet(t, []*api.Node{mkNode("w1", windowsNode)}, mkTask("svc", 1, image, withNetworks("net1")))
	if o.node != "" || o.reason != "no suitable node (networks not supported on 1 node)" {
		t.Fatalf("outcome %+v", o)
	}
}

// A task with networks goes to the node that supports them; one without
// may go to either.
func TestNetworksOnlyOnNodesThatSupportThem(t *testing.T) {
	nodes := []*api.Node{mkNode("l1"), mkNode("w1", windowsNode)}
	c := netCluster(t, nodes, []*api.Task{
		mkTask("net", 1, image, withNetworks("net1")), mkTask("net", 2, image, withNetworks("net1")),
		mkTask("plain", 1, image), mkTask("plain", 2, image),
	})
	out, _ := c.place()
	for _, id := range []string{"net-1", "net-2"} {
		if out[id].node != "l1" {
			t.Errorf("%s on %q, want l1 (the node with networks)", id, out[id].node)
		}
	}
	if out["plain-1"].node == out["plain-2"].node {
		t.Errorf("tasks without networks not spread: %+v", out)
	}
}

// A node that says nothing of features (an agent from before the field)
// supports them all.
func TestNodeWithoutFeatureListSupportsNetworks(t *testing.T) {
	o := placeOneNet(t, []*api.Node{mkNode("l1")}, mkTask("svc", 1, image, withNetworks("net1")))
	if o.node != "l1" {
		t.Fatalf("outcome %+v", o)
	}
}

// The seed stack (internal/compose/testdata/signup-v3.yml): five services
// constrained to node.platform.os == windows, one to linux. On a cluster of
// two Linux and two Windows nodes, the windows services land only on the
// Windows nodes and the linux one only on Linux; with their networks, the
// windows services stay pending and the reason names both refusals.
func TestSeedServicesPlacedByPlatform(t *testing.T) {
	nodes := []*api.Node{mkNode("l1"), mkNode("l2"), mkNode("w1", windowsNode), mkNode("w2", windowsNode)}
	win := constraints("node.platform.os == windows")
	lin := constraints("node.platform.os == linux")
	seed := func(withNets bool) []*api.Task {
		nets := func(names ...string) func(*api.Task) {
			if !withNets {
				return func(*api.Task) {}
			}
			return withNetworks(names...)
		}
		return []*api.Task{
			mkTask("signup-db", 1, image, win, nets("signup-net")),
			mkTask("signup-web", 1, image, win, nets("signup-net", "frontend-net", "backend-net")),
			mkTask("signup-web", 2, image, win, nets("signup-net", "frontend-net", "backend-net")),
			mkTask("homepage", 1, image, win, nets("frontend-net")),
			mkTask("save-handler", 1, image, win, nets("signup-net", "backend-net")),
			mkTask("reference-data-api", 1, image, lin, nets("signup-net", "frontend-net")),
			mkTask("reference-data-api", 2, image, lin, nets("signup-net", "frontend-net")),
		}
	}

	out, _ := netCluster(t, nodes, seed(false)).place()
	for id, o := range out {
		want := map[string]bool{"w1": true, "w2": true}
		if id == "reference-data-api-1" || id == "reference-data-api-2" {
			want = map[string]bool{"l1": true, "l2": true}
		}
		if !want[o.node] {
			t.Errorf("without networks: %s on %q (reason %q), want one of %v", id, o.node, o.reason, want)
		}
	}

	out, _ = netCluster(t, nodes, seed(true)).place()
	const reason = "no suitable node (unsupported platform on 2 nodes; networks not supported on 2 nodes)"
	for id, o := range out {
		if id == "reference-data-api-1" || id == "reference-data-api-2" {
			if o.node != "l1" && o.node != "l2" {
				t.Errorf("with networks: %s on %q, want a Linux node", id, o.node)
			}
			continue
		}
		if o.node != "" || o.reason != reason {
			t.Errorf("with networks: %s outcome %+v, want pending with %q", id, o, reason)
		}
	}
}
