package mesh

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/vishvananda/netlink"
)

func TestNetworkConfigIsChecked(t *testing.T) {
	ok := netA
	for _, tc := range []struct {
		name string
		edit func(*Network)
		want string
	}{
		{"empty ID", func(nw *Network) { nw.ID = "" }, "network ID is empty"},
		{"ID with a slash", func(nw *Network) { nw.ID = "a/b" }, `has '/'`},
		{"VNI 0", func(nw *Network) { nw.VNI = 0 }, "VNI 0 is outside 1–16777215"},
		{"VNI too big", func(nw *Network) { nw.VNI = 1 << 24 }, "VNI 16777216 is outside"},
		{"IPv6", func(nw *Network) {
			nw.Subnet, nw.Gateway = netip.MustParsePrefix("fd00::/64"), netip.MustParseAddr("fd00::1")
		}, "IPv6 networks are not supported"},
		{"host bits", func(nw *Network) { nw.Subnet = netip.MustParsePrefix("10.10.1.5/24") }, "use 10.10.1.0/24"},
		{"gateway outside", func(nw *Network) { nw.Gateway = netip.MustParseAddr("10.10.2.1") }, "gateway 10.10.2.1 is not in subnet 10.10.1.0/24"},
		{"too small", func(nw *Network) { nw.Subnet = netip.MustParsePrefix("10.10.1.0/31") }, "too small"},
		{"node address outside", func(nw *Network) { nw.NodeAddress = netip.MustParseAddr("10.10.9.9") }, "node address 10.10.9.9 is not in subnet"},
		{"node address is the gateway", func(nw *Network) { nw.NodeAddress = nw.Gateway }, "or is the gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nw := ok
			tc.edit(&nw)
			err := nw.validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("validate() = %v, want an error with %q", err, tc.want)
			}
		})
	}
	if err := ok.validate(); err != nil {
		t.Errorf("a good network is refused: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, vtep := range []netip.Addr{{}, netip.MustParseAddr("fd00::1")} {
		if _, err := New(Config{VTEP: vtep}); err == nil || !strings.Contains(err.Error(), "not an IPv4 address") {
			t.Errorf("New(VTEP %v) = %v, want a refusal", vtep, err)
		}
	}
	if _, err := New(Config{VTEP: netip.MustParseAddr("192.168.50.1"), MTU: 100}); err == nil || !strings.Contains(err.Error(), "MTU 100 is outside 576–65485") {
		t.Errorf("New(MTU 100) = %v, want a refusal", err)
	}
}

func TestMTUIsConfigurable(t *testing.T) {
	testutil.RequireRoot(t)
	ns := newNS(t)
	nd, err := New(Config{NetNS: ns, VTEP: netip.MustParseAddr("192.168.50.1"), MTU: 1400, NamespaceDir: filepath.Join(t.TempDir(), "netns")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.Close() })
	n := &node{ns: ns, Node: nd}
	ensure(t, n, netA)
	task := attach(t, n, "t1", ep(netA, "10.10.1.2"))
	for _, c := range []struct{ ns, link string }{{ns, bridgeName(netA.VNI)}, {ns, vxlanName(netA.VNI)}, {ns, vethName("t1", netA.ID)}, {task, "eth0"}} {
		l, err := handle(t, c.ns).LinkByName(c.link)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().MTU != 1400 {
			t.Errorf("%s MTU = %d, want 1400", c.link, l.Attrs().MTU)
		}
	}
}

func TestNewNamespaceRefusesAnOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "netns")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // past the umask
		t.Fatal(err)
	}
	n := &Node{cfg: Config{NamespaceDir: dir}}
	_, err := n.NewNamespace("t1")
	if err == nil || !strings.Contains(err.Error(), "has mode 0755") {
		t.Fatalf("NewNamespace in a 0755 directory = %v, want a refusal", err)
	}
	if _, err := n.NewNamespace("../t1"); err == nil || !strings.Contains(err.Error(), `has '/'`) {
		t.Errorf("NewNamespace(../t1) = %v, want a refusal", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files made: %v", ents)
	}
}

func TestBadRequestsChangeNothing(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	ensure(t, n, netA)
	before := view(t, n.ns)
	ns := n.task(t, "t1")

	clash := netB
	clash.VNI = netA.VNI
	if err := n.EnsureNetwork(clash); err == nil || !strings.Contains(err.Error(), "VNI 4097 is used by network neta") {
		t.Errorf("EnsureNetwork with another network's VNI = %v, want a refusal", err)
	}
	for _, tc := range []struct {
		name string
		eps  []Endpoint
		want string
	}{
		{"no endpoints", nil, "no endpoints"},
		{"unknown network", []Endpoint{ep(netB, "10.10.2.2")}, "network netb is not on this node"},
		{"address outside", []Endpoint{{NetworkID: netA.ID, Address: netip.MustParsePrefix("10.10.9.2/24")}}, "not in network neta's subnet"},
		{"gateway address", []Endpoint{ep(netA, "10.10.1.1")}, "is network neta's gateway"},
		{"network twice", []Endpoint{ep(netA, "10.10.1.2"), ep(netA, "10.10.1.3")}, "listed twice"},
	} {
		if err := n.Attach("t1", ns, tc.eps); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Attach = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if err := n.Attach("t1", "/nonexistent", []Endpoint{ep(netA, "10.10.1.2")}); err == nil || !strings.Contains(err.Error(), "open task namespace /nonexistent") {
		t.Errorf("Attach to a missing namespace = %v", err)
	}
	if err := n.SetPeers(netB.ID, nil); err == nil || !strings.Contains(err.Error(), "network netb is not on this node") {
		t.Errorf("SetPeers of an unknown network = %v", err)
	}
	bad := []RemoteEndpoint{{TaskIP: netip.MustParseAddr("10.10.1.9"), NodeAddr: netip.MustParseAddr("192.168.50.2")}, {TaskIP: netip.MustParseAddr("fd00::9"), NodeAddr: netip.MustParseAddr("192.168.50.2")}}
	if err := n.SetPeers(netA.ID, bad); err == nil || !strings.Contains(err.Error(), "want IPv4 addresses") {
		t.Errorf("SetPeers with an IPv6 peer = %v", err)
	}
	if after := view(t, n.ns); after != before {
		t.Errorf("refused requests changed the node\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestFailedAttachUndoesItself(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	ensure(t, n, netA, netB)
	ns := n.task(t, "t1")
	// Something on the node already holds the name of the second veth's
	// host side, so it cannot be made after the first was.
	nh := handle(t, n.ns)
	blocker := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: vethName("t1", netB.ID)}, PeerName: "other"}
	if err := nh.LinkAdd(blocker); err != nil {
		t.Fatal(err)
	}
	before := view(t, n.ns)
	h := handle(t, ns)
	err := n.Attach("t1", ns, []Endpoint{ep(netA, "10.10.1.2"), ep(netB, "10.10.2.2")})
	if err == nil || !strings.Contains(err.Error(), blocker.Name) {
		t.Fatalf("Attach = %v, want an error about %s", err, blocker.Name)
	}
	if after := view(t, n.ns); after != before {
		t.Errorf("a failed Attach left plumbing\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, err := h.LinkByName("eth0"); err == nil {
		t.Error("eth0 was left in the task's namespace")
	}
	// Attaching twice is refused, and leaves the first attachment.
	if err := nh.LinkDel(blocker); err != nil {
		t.Fatal(err)
	}
	if err := n.Attach("t1", ns, []Endpoint{ep(netA, "10.10.1.2")}); err != nil {
		t.Fatal(err)
	}
	if err := n.Attach("t1", ns, []Endpoint{ep(netA, "10.10.1.2")}); err == nil || !strings.Contains(err.Error(), "already attached") {
		t.Errorf("second Attach = %v, want already attached", err)
	}
	if _, err := h.LinkByName("eth0"); err != nil {
		t.Errorf("the first attachment was lost: %v", err)
	}
}

func TestEnsureNetworkRepairs(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	ensure(t, n, netA)
	want := view(t, n.ns)
	h := handle(t, n.ns)
	vx, err := h.LinkByName(vxlanName(netA.VNI))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkDel(vx); err != nil {
		t.Fatal(err)
	}
	sh(t, n.ns, "nft", "flush", "table", "inet", "shoal")
	ensure(t, n, netA)
	if got := view(t, n.ns); got != want {
		t.Errorf("EnsureNetwork did not repair\nwant:\n%s\ngot:\n%s", want, got)
	}
}
