package allocator

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestNextAddrSkipsGatewayNetworkAndBroadcast(t *testing.T) {
	subnet := netip.MustParsePrefix("10.0.1.0/24")
	gw := Gateway(subnet)
	if gw.String() != "10.0.1.1" {
		t.Fatalf("gateway = %s, want 10.0.1.1", gw)
	}
	used := map[netip.Addr]bool{gw: true}
	taken := func(a netip.Addr) bool { return used[a] }
	var hint netip.Addr
	for i := 0; i < 253; i++ {
		a, err := NextAddr(subnet, hint, taken)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if a.String() == "10.0.1.0" || a.String() == "10.0.1.255" || used[a] {
			t.Fatalf("allocation %d handed out %s", i, a)
		}
		used[a], hint = true, a
	}
	if _, err := NextAddr(subnet, hint, taken); !errors.Is(err, ErrExhausted) {
		t.Fatalf("full /24: err = %v, want ErrExhausted", err)
	}
}

func TestNextAddrIsRoundRobin(t *testing.T) {
	subnet := netip.MustParsePrefix("10.0.1.0/24")
	used := map[netip.Addr]bool{Gateway(subnet): true}
	taken := func(a netip.Addr) bool { return used[a] }
	a, _ := NextAddr(subnet, netip.Addr{}, taken)
	used[a] = true
	b, _ := NextAddr(subnet, a, taken)
	delete(used, a) // a is freed: the next address is still after b
	c, _ := NextAddr(subnet, b, taken)
	if a.String() != "10.0.1.2" || b.String() != "10.0.1.3" || c.String() != "10.0.1.4" {
		t.Fatalf("got %s, %s, %s; want 10.0.1.2, .3, .4", a, b, c)
	}
	// Wrapping: after the last host address comes the first free one.
	d, _ := NextAddr(subnet, netip.MustParseAddr("10.0.1.254"), taken)
	if d.String() != "10.0.1.2" {
		t.Fatalf("after .254: %s, want 10.0.1.2 (freed)", d)
	}
}

func TestNextAddrProbesABoundedNumberOfAddresses(t *testing.T) {
	probes := 0
	_, err := NextAddr(netip.MustParsePrefix("10.0.0.0/8"), netip.Addr{}, func(netip.Addr) bool { probes++; return true })
	if !errors.Is(err, ErrExhausted) || probes != maxAddrProbes {
		t.Fatalf("err = %v after %d probes, want ErrExhausted after %d", err, probes, maxAddrProbes)
	}
}

func TestParseSubnetAndGateway(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.9.0/24":  "",
		"10.0.9.5/24":  "it should be 10.0.9.0/24",
		"10.0.9.0/30":  "at most /29",
		"fd00::/64":    "only IPv4",
		"10.0.9.0":     "CIDR form",
		"192.168.0/16": "CIDR form",
	} {
		_, err := ParseSubnet(in)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ParseSubnet(%q) = %v, want %q", in, err, want)
		}
	}
	subnet := netip.MustParsePrefix("10.0.9.0/24")
	if g, err := ParseGateway("10.0.9.254", subnet); err != nil || g.String() != "10.0.9.254" {
		t.Errorf("gateway .254: %v %v", g, err)
	}
	for _, bad := range []string{"10.0.8.1", "10.0.9.0", "10.0.9.255", "x"} {
		if _, err := ParseGateway(bad, subnet); err == nil {
			t.Errorf("ParseGateway(%q) accepted", bad)
		}
	}
}

func TestParsePool(t *testing.T) {
	p, err := ParsePool([]string{"10.10.0.0/16", "10.20.0.0/16"}, 26)
	if err != nil || len(p.Prefixes) != 2 || p.SubnetSize != 26 {
		t.Fatalf("ParsePool = %+v, %v", p, err)
	}
	for _, c := range []struct {
		pools []string
		size  int
		want  string
	}{
		{nil, 24, "no address pool"},
		{[]string{"10.0.0.0/8"}, 30, "mask length from 1 to 29"},
		{[]string{"10.0.0.0/25"}, 24, "smaller than one /24"},
		{[]string{"10.0.0.0/8", "10.1.0.0/16"}, 24, "overlap"},
		{[]string{"10.0.0.1/8"}, 24, "it should be 10.0.0.0/8"},
		{[]string{"nope"}, 24, "CIDR form"},
	} {
		if _, err := ParsePool(c.pools, c.size); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePool(%v, %d) = %v, want %q", c.pools, c.size, err, c.want)
		}
	}
}

func TestNextSubnetSkipsUsedAndWraps(t *testing.T) {
	p := DefaultAddrPool()
	used := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.0.2.0/23"), netip.MustParsePrefix("10.0.1.0/24")}
	got, err := p.NextSubnet(used, netip.Prefix{})
	if err != nil || got.String() != "10.0.4.0/24" {
		t.Fatalf("NextSubnet = %s, %v; want 10.0.4.0/24", got, err)
	}
	// After the hint, even though an earlier one is free.
	got, _ = p.NextSubnet(nil, netip.MustParsePrefix("10.0.7.0/24"))
	if got.String() != "10.0.8.0/24" {
		t.Fatalf("after 10.0.7.0/24: %s", got)
	}
	// A user's /16 inside the pool is jumped over in one step.
	got, _ = p.NextSubnet([]netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, netip.MustParsePrefix("10.0.255.0/24"))
	if got.String() != "10.2.0.0/24" {
		t.Fatalf("past a /16: %s", got)
	}
	// The last subnet of the pool wraps to the first.
	got, _ = p.NextSubnet(nil, netip.MustParsePrefix("10.255.255.0/24"))
	if got.String() != "10.0.0.0/24" {
		t.Fatalf("wrap: %s", got)
	}
	// Several pools: the second is used once the first is full.
	two, _ := ParsePool([]string{"192.168.0.0/24", "172.16.0.0/24"}, 25)
	got, _ = two.NextSubnet([]netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")}, netip.Prefix{})
	if got.String() != "172.16.0.0/25" {
		t.Fatalf("second pool: %s", got)
	}
	full := []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24"), netip.MustParsePrefix("172.16.0.0/24")}
	if _, err := two.NextSubnet(full, netip.MustParsePrefix("172.16.0.0/25")); !errors.Is(err, ErrExhausted) {
		t.Fatalf("full pools: %v", err)
	}
}

func TestNextPortAndVNI(t *testing.T) {
	port, err := NextPort(0, func(uint32) bool { return false })
	if err != nil || port != 30000 {
		t.Fatalf("first port %d, %v", port, err)
	}
	if port, _ = NextPort(32767, func(p uint32) bool { return p == 30000 }); port != 30001 {
		t.Fatalf("after 32767 with 30000 taken: %d", port)
	}
	if _, err := NextPort(0, func(uint32) bool { return true }); !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "30000-32767") {
		t.Fatalf("no port: %v", err)
	}
	vni, err := NextVNI(0, func(uint32) bool { return false })
	if err != nil || vni != 4097 {
		t.Fatalf("first VNI %d, %v", vni, err)
	}
	if vni, _ = NextVNI(VNILast, func(uint32) bool { return false }); vni != VNIFirst {
		t.Fatalf("VNI wrap: %d", vni)
	}
}
