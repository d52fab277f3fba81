//go:build linux

package netagent_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/mesh"
	"github.com/shoalproject/shoal/internal/netagent"
)

func node(id, addr string) *api.Node {
	return &api.Node{ID: id, Status: api.NodeStatus{Addr: addr}}
}

func on(t *api.Task, nodeID string) *api.Task { t.NodeID = nodeID; return t }

// Peers lists the tasks of other nodes behind their node's VTEP: not this
// node's, not ended ones, not those of a node without an IPv4 address.
func TestPeersAreTheOtherNodesLiveTasks(t *testing.T) {
	ended := on(task("t4", "a", "10.77.1.6/24"), "n2")
	ended.Status.State = api.TaskStateFailed
	v := netagent.View{
		Nodes: []*api.Node{node("n1", "192.0.2.1"), node("n2", "192.0.2.2"), node("n3", "fe80::1"), node("n4", "")},
		Tasks: []*api.Task{
			on(task("t1", "a", "10.77.1.3/24"), "n1"), on(task("t2", "a", "10.77.1.5/24"), "n2"),
			on(task("t3", "b", "10.77.1.4/24"), "n2"), ended,
			on(task("t5", "b", "10.77.1.7/24"), "n3"), on(task("t6", "b", "10.77.1.8/24"), "n4"),
			on(task("t7", "b", "10.77.1.9/24"), "gone"),
		},
	}
	got := netagent.Peers(v, netip.MustParseAddr("192.0.2.1"))
	n2 := netip.MustParseAddr("192.0.2.2")
	want := []mesh.RemoteEndpoint{{TaskIP: netip.MustParseAddr("10.77.1.4"), NodeAddr: n2}, {TaskIP: netip.MustParseAddr("10.77.1.5"), NodeAddr: n2}}
	if len(got) != 1 || !slices.Equal(got["net1"], want) {
		t.Errorf("peers %v, want net1: %v", got, want)
	}
}

// SetView writes the remote tasks of the node's networks into their VXLAN
// devices, and takes out those that left.
func TestSetViewProgramsRemoteTasks(t *testing.T) {
	w := newWorld(t)
	nodeNS := w.ns(t, "node")
	a := newAgent(t, w, nodeNS)
	defer a.Close()
	nets := map[string]*api.Network{"net1": appnet}
	local := on(task("ta", "a", "10.77.1.3/24"), "n1")
	remote := on(task("tb", "b", "10.77.1.4/24"), "n2")
	view := netagent.View{Networks: []*api.Network{appnet},
		Services: []*api.Service{service("a", "a", "dnsrr", ""), service("b", "b", "dnsrr", "")},
		Tasks:    []*api.Task{local, remote}, Nodes: []*api.Node{node("n1", "192.0.2.1"), node("n2", "192.0.2.2")}}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	// The network is not on the node before its first task: Attach
	// programs it at once, from the view.
	if err := a.Attach(netagent.Request{Task: local, Networks: nets, NetNS: w.ns(t, "ta")}); err != nil {
		t.Fatal(err)
	}
	defer a.Detach("ta")
	if got := fdb(t, nodeNS); !slices.Equal(got, []string{"02:42:0a:4d:01:04 192.0.2.2"}) {
		t.Errorf("after attach the VXLAN device sends %v, want tb's MAC to n2", got)
	}
	moved := on(task("tb", "b", "10.77.1.4/24"), "n3")
	view.Tasks = []*api.Task{local, moved, on(task("tc", "b", "10.77.1.5/24"), "n2")}
	view.Nodes = append(view.Nodes, node("n3", "192.0.2.3"))
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	if got := fdb(t, nodeNS); !slices.Equal(got, []string{"02:42:0a:4d:01:04 192.0.2.3", "02:42:0a:4d:01:05 192.0.2.2"}) {
		t.Errorf("after the view changed the VXLAN device sends %v", got)
	}
	view.Tasks = []*api.Task{local}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	if got := fdb(t, nodeNS); len(got) != 0 {
		t.Errorf("with no remote task left the VXLAN device still sends %v", got)
	}
}

// fdb lists the VXLAN forwarding entries in the namespace: "MAC VTEP".
func fdb(t *testing.T, ns string) []string {
	t.Helper()
	nl := handleIn(t, ns)
	defer nl.Close()
	vx, err := nl.LinkByName("shvx-4200")
	if err != nil {
		t.Fatal(err)
	}
	es, err := nl.NeighList(vx.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.IP != nil && e.Flags&netlink.NTF_SELF != 0 && !e.IP.IsUnspecified() {
			out = append(out, e.HardwareAddr.String()+" "+e.IP.String())
		}
	}
	slices.Sort(out)
	return out
}

// A node registered from a loopback address (a manager left on `shoal dev`'s
// default 127.0.0.1, or a local user's worker on the manager's machine) is
// no VTEP another machine can reach: listing it would put 127.0.0.1 among
// the VTEPs this node takes VXLAN from, and any local user can send UDP
// from 127.0.0.1 to the VXLAN port, putting frames on every network.
func TestPeersSkipLoopbackNodes(t *testing.T) {
	v := netagent.View{
		Nodes: []*api.Node{node("n1", "192.0.2.1"), node("n2", "127.0.0.1"), node("n3", "127.0.0.7"), node("n4", "::ffff:127.0.0.1")},
		Tasks: []*api.Task{
			on(task("t1", "a", "10.77.1.3/24"), "n2"), on(task("t2", "a", "10.77.1.4/24"), "n3"),
			on(task("t3", "a", "10.77.1.5/24"), "n4"),
		},
	}
	if got := netagent.Peers(v, netip.MustParseAddr("192.0.2.1")); len(got) != 0 {
		t.Errorf("peers %v, want none behind loopback VTEPs", got)
	}
}
