package mesh

import (
	"net/netip"
	"strings"
	"testing"
)

// twoNodes makes two nodes whose namespaces are joined by a wire
// (10.99.0.1 and 10.99.0.2), VXLAN on port 4790, each with netA.
func twoNodes(t *testing.T) (*node, *node) {
	t.Helper()
	n1 := newNode(t, "10.99.0.1", 4790)
	n2 := newNode(t, "10.99.0.2", 4790)
	link(t, "wire", n1.ns, n2.ns, "10.99.0.1/24", "10.99.0.2/24")
	ensure(t, n1, netA)
	ensure(t, n2, netA)
	return n1, n2
}

// twoNodesWithTasks adds to twoNodes a task on each, t1 (10.10.1.2) on
// the first and t2 (10.10.1.3) on the second, each serving on port 7000.
func twoNodesWithTasks(t *testing.T) (n1, n2 *node, t1, t2 string) {
	t.Helper()
	n1, n2 = twoNodes(t)
	t1 = attach(t, n1, "t1", ep(netA, "10.10.1.2"))
	t2 = attach(t, n2, "t2", ep(netA, "10.10.1.3"))
	serve(t, t1, "10.10.1.2:7000")
	serve(t, t2, "10.10.1.3:7000")
	return n1, n2, t1, t2
}

func peers(node string, ips ...string) []RemoteEndpoint {
	var out []RemoteEndpoint
	for _, ip := range ips {
		out = append(out, RemoteEndpoint{TaskIP: netip.MustParseAddr(ip), NodeAddr: netip.MustParseAddr(node)})
	}
	return out
}

func TestTasksAcrossNodesTalkOverVXLAN(t *testing.T) {
	n1, n2, t1, t2 := twoNodesWithTasks(t)

	// Each node learns the other's task from cluster state only. A peer
	// on the node itself is skipped (the bridge reaches it).
	if err := n1.SetPeers(netA.ID, append(peers("10.99.0.2", "10.10.1.3"), peers("10.99.0.1", "10.10.1.2")...)); err != nil {
		t.Fatal(err)
	}
	if err := n2.SetPeers(netA.ID, peers("10.99.0.1", "10.10.1.2")); err != nil {
		t.Fatal(err)
	}
	// Twice: it is idempotent.
	if err := n2.SetPeers(netA.ID, peers("10.99.0.1", "10.10.1.2")); err != nil {
		t.Fatal(err)
	}
	mustTalk(t, t1, "10.10.1.3:7000")
	mustTalk(t, t2, "10.10.1.2:7000")

	// The entries are static: a neighbour entry and a forwarding entry
	// per remote task, nothing for local ones, no default destination.
	vx := vxlanName(netA.VNI)
	if got := sh(t, n1.ns, "ip", "neigh", "show", "dev", vx); !strings.Contains(got, "10.10.1.3 lladdr 02:42:0a:0a:01:03 PERMANENT") || strings.Contains(got, "10.10.1.2") {
		t.Errorf("neighbours on %s = %q, want only 10.10.1.3, permanent", vx, got)
	}
	fdb := sh(t, n1.ns, "bridge", "fdb", "show", "dev", vx)
	if !strings.Contains(fdb, "02:42:0a:0a:01:03 dst 10.99.0.2 self permanent") || strings.Contains(fdb, "00:00:00:00:00:00") {
		t.Errorf("forwarding entries on %s = %q, want 02:42:0a:0a:01:03 to 10.99.0.2 and no default", vx, fdb)
	}
	if !strings.Contains(sh(t, n1.ns, "ip", "-d", "link", "show", vx), "dstport 4790 nolearning proxy") {
		t.Errorf("%s learns addresses; want port 4790, nolearning, proxy", vx)
	}

	// A task gone from cluster state is gone from the device, and no
	// longer reachable.
	if err := n1.SetPeers(netA.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, n1.ns, "ip", "neigh", "show", "dev", vx); strings.TrimSpace(got) != "" {
		t.Errorf("neighbours left on %s: %q", vx, got)
	}
	if got := sh(t, n1.ns, "bridge", "fdb", "show", "dev", vx); strings.Contains(got, "dst") {
		t.Errorf("forwarding entries left on %s: %q", vx, got)
	}
	mustNotTalk(t, t1, "10.10.1.3:7000")
}

func TestPeerMovingToAnotherNodeIsReprogrammed(t *testing.T) {
	n1, n2 := twoNodes(t)
	t2 := attach(t, n2, "t2", ep(netA, "10.10.1.3"))
	serve(t, t2, "10.10.1.3:7000")
	t1 := attach(t, n1, "t1", ep(netA, "10.10.1.2"))
	if err := n2.SetPeers(netA.ID, peers("10.99.0.1", "10.10.1.2")); err != nil {
		t.Fatal(err)
	}
	// First n1 believes the task is on a node that does not exist…
	if err := n1.SetPeers(netA.ID, peers("10.99.0.9", "10.10.1.3")); err != nil {
		t.Fatal(err)
	}
	mustNotTalk(t, t1, "10.10.1.3:7000")
	// …then cluster state says where it is.
	if err := n1.SetPeers(netA.ID, peers("10.99.0.2", "10.10.1.3")); err != nil {
		t.Fatal(err)
	}
	mustTalk(t, t1, "10.10.1.3:7000")
}

func TestNodeReachesTasksOnOtherNodesFromItsOwnAddress(t *testing.T) {
	n1, n2, t1, _ := twoNodesWithTasks(t)
	if err := n1.SetPeers(netA.ID, peers("10.99.0.2", "10.10.1.3")); err != nil {
		t.Fatal(err)
	}
	// Without an address of its own the node cannot reach a remote task:
	// the task answers the shared gateway address, its own node's.
	mustNotTalk(t, n1.ns, "10.10.1.3:7000")

	// Each node gets an address on the network; the other node knows it
	// as a peer.
	a1, a2 := netA, netA
	a1.NodeAddress, a2.NodeAddress = netip.MustParseAddr("10.10.1.250"), netip.MustParseAddr("10.10.1.251")
	ensure(t, n1, a1)
	ensure(t, n2, a2)
	if err := n1.SetPeers(netA.ID, peers("10.99.0.2", "10.10.1.3", "10.10.1.251")); err != nil {
		t.Fatal(err)
	}
	if err := n2.SetPeers(netA.ID, peers("10.99.0.1", "10.10.1.2", "10.10.1.250")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, src string }{
		{n1.ns, "10.10.1.3:7000", "10.10.1.250"}, // remote task
		{n1.ns, "10.10.1.2:7000", "10.10.1.250"}, // local task
		{n2.ns, "10.10.1.2:7000", "10.10.1.251"},
	} {
		from, err := tcp(t, c.from, c.to, okTimeout)
		if err != nil {
			t.Fatalf("node to %s: %v", c.to, err)
		}
		if from != c.src {
			t.Errorf("node to %s came from %s, want %s", c.to, from, c.src)
		}
	}
	// Tasks still use the gateway and each other.
	mustTalk(t, t1, "10.10.1.3:7000")
	obs, err := n1.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Networks) != 1 || obs.Networks[0] != a1 {
		t.Errorf("observed %+v, want %+v", obs.Networks, a1)
	}
}

func TestVXLANIsTakenOnlyFromKnownNodes(t *testing.T) {
	n1, n2, t1, t2 := twoNodesWithTasks(t)
	if err := n1.SetPeers(netA.ID, peers("10.99.0.2", "10.10.1.3")); err != nil {
		t.Fatal(err)
	}
	if err := n2.SetPeers(netA.ID, peers("10.99.0.1", "10.10.1.2")); err != nil {
		t.Fatal(err)
	}
	// An intruder that reaches node 2 and knows the VNI: a node of its
	// own, not in cluster state, with a task that claims to know t2.
	n3 := newNode(t, "10.98.0.3", 4790)
	link(t, "wire3", n2.ns, n3.ns, "10.98.0.2/24", "10.98.0.3/24")
	ensure(t, n3, netA)
	t3 := attach(t, n3, "t3", ep(netA, "10.10.1.7"))
	if err := n3.SetPeers(netA.ID, peers("10.98.0.2", "10.10.1.3")); err != nil {
		t.Fatal(err)
	}
	// nft can still show the set (it aborts on a concatenation with a
	// type of no fixed size).
	sh(t, n2.ns, "nft", "list", "ruleset")
	got := sink(t, t2, "10.10.1.3:9999")
	onlyControlArrives(t, got, "10.10.1.3:9999", t3, t1, "10.10.1.2")
	// Once cluster state lists the node, its packets are taken: the drop
	// above was the filter's.
	if err := n2.SetPeers(netA.ID, append(peers("10.99.0.1", "10.10.1.2"), peers("10.98.0.3", "10.10.1.7")...)); err != nil {
		t.Fatal(err)
	}
	send(t, t3, "10.10.1.3:9999")
	if from := next(t, got); from != "10.10.1.7" {
		t.Fatalf("t2 got a datagram from %s, want t3's", from)
	}
}

// A node the cluster lists on one network (netB) is no sender of another
// network's (netA) frames: a malicious worker knows every VNI from the
// routes stream, and a filter on the sender alone let it put frames on
// networks it has no task on, internal ones included.
func TestVXLANOfANetworkIsTakenOnlyFromNodesOnIt(t *testing.T) {
	n1, n2, t1, t2 := twoNodesWithTasks(t)
	if err := n1.SetPeers(netA.ID, peers("10.99.0.2", "10.10.1.3")); err != nil {
		t.Fatal(err)
	}
	// n3 is a node of the cluster with a task on netB only.
	n3 := newNode(t, "10.98.0.3", 4790)
	link(t, "wire3", n2.ns, n3.ns, "10.98.0.2/24", "10.98.0.3/24")
	ensure(t, n2, netB)
	ensure(t, n3, netB, netA)
	attach(t, n2, "t2b", ep(netB, "10.10.2.2"))
	attach(t, n3, "t3b", ep(netB, "10.10.2.3"))
	if err := n2.SetPeers(netB.ID, peers("10.98.0.3", "10.10.2.3")); err != nil {
		t.Fatal(err)
	}
	if err := n2.SetPeers(netA.ID, peers("10.99.0.1", "10.10.1.2")); err != nil {
		t.Fatal(err)
	}
	// On its own machine it plumbs netA and sends to t2 there.
	t3 := attach(t, n3, "t3", ep(netA, "10.10.1.7"))
	if err := n3.SetPeers(netA.ID, peers("10.98.0.2", "10.10.1.3")); err != nil {
		t.Fatal(err)
	}
	// Its own machine: it needs no answer to ARP.
	sh(t, t3, "ip", "neigh", "replace", "10.10.1.3", "lladdr", macFor(netip.MustParseAddr("10.10.1.3")).String(), "dev", "eth0", "nud", "permanent")
	// nft can still show the set (it aborts on a concatenation with a
	// type of no fixed size).
	sh(t, n2.ns, "nft", "list", "ruleset")
	got := sink(t, t2, "10.10.1.3:9999")
	onlyControlArrives(t, got, "10.10.1.3:9999", t3, t1, "10.10.1.2")
}
