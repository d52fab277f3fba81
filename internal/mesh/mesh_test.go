package mesh

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

var (
	netA = Network{ID: "neta", VNI: 4097, Subnet: netip.MustParsePrefix("10.10.1.0/24"), Gateway: netip.MustParseAddr("10.10.1.1")}
	netB = Network{ID: "netb", VNI: 4098, Subnet: netip.MustParsePrefix("10.10.2.0/24"), Gateway: netip.MustParseAddr("10.10.2.1")}
	netI = Network{ID: "neti", VNI: 4099, Subnet: netip.MustParsePrefix("10.10.3.0/24"), Gateway: netip.MustParseAddr("10.10.3.1"), Internal: true}
)

func ep(nw Network, addr string) Endpoint {
	return Endpoint{NetworkID: nw.ID, Address: netip.PrefixFrom(netip.MustParseAddr(addr), nw.Subnet.Bits())}
}

func ensure(t *testing.T, n *node, nws ...Network) {
	t.Helper()
	for _, nw := range nws {
		if err := n.EnsureNetwork(nw); err != nil {
			t.Fatal(err)
		}
	}
}

func attach(t *testing.T, n *node, id string, eps ...Endpoint) string {
	t.Helper()
	ns := n.task(t, id)
	if err := n.Attach(id, ns, eps); err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestTasksOnOneNetworkTalk(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	ensure(t, n, netA)
	t1 := attach(t, n, "t1", ep(netA, "10.10.1.2"))
	t2 := attach(t, n, "t2", ep(netA, "10.10.1.3"))
	serve(t, t1, "10.10.1.2:7000")
	serve(t, t2, "10.10.1.3:7000")
	mustTalk(t, t2, "10.10.1.2:7000")
	mustTalk(t, t1, "10.10.1.3:7000")
	// The task reaches the node itself at the gateway.
	serve(t, n.ns, "10.10.1.1:7001")
	mustTalk(t, t1, "10.10.1.1:7001")

	// What the task sees: eth0 with its address and derived MAC, up, and
	// a default route through the gateway.
	h := handle(t, t1)
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if got := eth0.Attrs().HardwareAddr.String(); got != "02:42:0a:0a:01:02" {
		t.Errorf("eth0 MAC = %s, want 02:42:0a:0a:01:02", got)
	}
	if eth0.Attrs().MTU != DefaultMTU {
		t.Errorf("eth0 MTU = %d, want %d", eth0.Attrs().MTU, DefaultMTU)
	}
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var dflt bool
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.Equal(net.ParseIP("10.10.1.1")) && r.LinkIndex == eth0.Attrs().Index {
			dflt = true
		}
	}
	if !dflt {
		t.Errorf("no default route via 10.10.1.1 on eth0: %v", routes)
	}
}

func TestTaskOnTwoNetworksGetsEth0AndEth1(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	ensure(t, n, netI, netA)
	// The internal network comes first, yet the default route goes
	// through the first network that is not internal.
	multi := attach(t, n, "multi", ep(netI, "10.10.3.2"), ep(netA, "10.10.1.2"))
	onI := attach(t, n, "oni", ep(netI, "10.10.3.3"))
	onA := attach(t, n, "ona", ep(netA, "10.10.1.3"))
	serve(t, multi, "0.0.0.0:7000")
	mustTalk(t, onI, "10.10.3.2:7000")
	mustTalk(t, onA, "10.10.1.2:7000")

	h := handle(t, multi)
	for name, addr := range map[string]string{"eth0": "10.10.3.2/24", "eth1": "10.10.1.2/24"} {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != addr {
			t.Errorf("%s addresses = %v (%v), want %s", name, addrs, err, addr)
		}
	}
	out := sh(t, multi, "ip", "route", "show", "default")
	if !strings.Contains(out, "via 10.10.1.1 dev eth1") {
		t.Errorf("default route = %q, want via 10.10.1.1 dev eth1", out)
	}
}

func TestNetworksAreIsolated(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	ensure(t, n, netA, netB)
	a := attach(t, n, "a", ep(netA, "10.10.1.2"))
	b := attach(t, n, "b", ep(netB, "10.10.2.2"))
	b2 := attach(t, n, "b2", ep(netB, "10.10.2.3"))
	serve(t, a, "10.10.1.2:7000")
	serve(t, b, "10.10.2.2:7000")
	// b is reachable from its own network…
	mustTalk(t, b2, "10.10.2.2:7000")
	// …but neither network reaches the other, though the node routes
	// between its bridges.
	mustNotTalk(t, a, "10.10.2.2:7000")
	mustNotTalk(t, b, "10.10.1.2:7000")
}

// outside joins an "outside" namespace (the internet) to node n by a wire:
// the node is 192.0.2.1, the outside 192.0.2.2.
func outside(t *testing.T, n *node) string {
	t.Helper()
	out := newNS(t)
	link(t, "wire", n.ns, out, "192.0.2.1/24", "192.0.2.2/24")
	return out
}

func TestEgressIsMasqueradedAndInternalHasNone(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	ensure(t, n, netA, netI)
	world := outside(t, n)
	serve(t, world, "192.0.2.2:8080")
	worldSink := sink(t, world, "192.0.2.2:9999")
	a := attach(t, n, "a", ep(netA, "10.10.1.2"))
	i := attach(t, n, "i", ep(netI, "10.10.3.2"))

	// The outside has no route back to 10.10.1.0/24: an answer proves the
	// node masqueraded the task's address as its own.
	from, err := tcp(t, a, "192.0.2.2:8080", okTimeout)
	if err != nil {
		t.Fatalf("egress from a normal network: %v", err)
	}
	if from != "192.0.2.1" {
		t.Errorf("the outside saw the task as %s, want the node's 192.0.2.1 (masquerade)", from)
	}
	if err := udp(t, a, "192.0.2.2:8080", okTimeout); err != nil {
		t.Fatalf("UDP egress: %v", err)
	}

	// An internal network's task has no default route.
	if _, err := tcp(t, i, "192.0.2.2:8080", dialTimeout); err == nil {
		t.Fatal("a task on an internal network reached the outside")
	}
	// Even with one (a task may add it), and with the outside routing
	// back to the tasks, the node forwards nothing out of an internal
	// network, not even one way…
	sh(t, i, "ip", "route", "add", "default", "via", "10.10.3.1")
	sh(t, world, "ip", "route", "add", "10.10.0.0/16", "via", "192.0.2.1")
	onlyControlArrives(t, worldSink, "192.0.2.2:9999", i, a, "192.0.2.1")
	mustNotTalk(t, i, "192.0.2.2:8080")

	// …and nothing new comes in to any network from outside, even with a
	// route: not to a normal network's task, not to an internal one's.
	serve(t, a, "10.10.1.2:7000")
	serve(t, i, "10.10.3.2:7000")
	mustNotTalk(t, world, "10.10.1.2:7000")
	mustNotTalk(t, world, "10.10.3.2:7000")
	iSink := sink(t, i, "10.10.3.2:9999")
	aSink := sink(t, a, "10.10.1.2:9999")
	send(t, world, "10.10.3.2:9999")
	send(t, world, "10.10.1.2:9999")
	select {
	case got := <-iSink:
		t.Fatalf("the internal task got a datagram from %s", got)
	case got := <-aSink:
		t.Fatalf("the task got a datagram from %s", got)
	case <-time.After(dialTimeout):
	}
}

// A container on its engine's bridge already has eth0 and a default route
// there (Swarm's docker_gwbridge role): the overlay interface takes the
// next free name and, with NoDefaultRoute, leaves the route alone.
func TestAttachBesideAnEngineInterfaceKeepsItsDefaultRoute(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	ensure(t, n, netA)
	ns := n.task(t, "gw")
	sh(t, ns, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "gwpeer")
	sh(t, ns, "ip", "addr", "add", "192.168.77.2/24", "dev", "eth0")
	sh(t, ns, "ip", "link", "set", "eth0", "up")
	sh(t, ns, "ip", "link", "set", "gwpeer", "up")
	sh(t, ns, "ip", "route", "add", "default", "via", "192.168.77.1")
	e := ep(netA, "10.10.1.2")
	e.NoDefaultRoute = true
	if err := n.Attach("gw", ns, []Endpoint{e}); err != nil {
		t.Fatal(err)
	}
	peer := attach(t, n, "peer", ep(netA, "10.10.1.3"))
	serve(t, ns, "10.10.1.2:7000")
	mustTalk(t, peer, "10.10.1.2:7000")

	if out := sh(t, ns, "ip", "-4", "-o", "addr", "show", "dev", "eth1"); !strings.Contains(out, "10.10.1.2/24") {
		t.Errorf("eth1 = %q, want the overlay address 10.10.1.2/24", out)
	}
	if out := sh(t, ns, "ip", "route", "show", "default"); strings.TrimSpace(out) != "default via 192.168.77.1 dev eth0" {
		t.Errorf("default route = %q, want only the engine's, via 192.168.77.1 dev eth0", out)
	}
}
