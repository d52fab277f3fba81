package allocator

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// MaxSubnetBits is the longest subnet prefix a network may have: a /29
// holds a gateway, five addresses and no more.
const MaxSubnetBits = 29

// maxAddrProbes bounds the search for a free address, so one allocation
// costs the same in a /16 as in a /24 (254 addresses): addresses are
// handed out round-robin, so the search finds a free one at once unless
// the subnet is nearly full.
const maxAddrProbes = 1024

// Uint32 is an IPv4 address as a number, as the store keeps hints.
func Uint32(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// Addr4 is the IPv4 address of a number.
func Addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// span is the first and last address of an IPv4 prefix.
func span(p netip.Prefix) (first, last uint64) {
	first = uint64(Uint32(p.Masked().Addr()))
	return first, first + (uint64(1) << (32 - p.Bits())) - 1
}

// hosts returns the first and last host address of a subnet: its network
// and broadcast addresses are never handed out.
func hosts(p netip.Prefix) (first, last uint64) {
	f, l := span(p)
	return f + 1, l - 1
}

// Gateway is a subnet's first host address, which Swarm gives the
// network's gateway.
func Gateway(subnet netip.Prefix) netip.Addr {
	f, _ := hosts(subnet)
	return Addr4(uint32(f))
}

// ParseSubnet reads a network's subnet ("10.0.9.0/24"): an IPv4 network
// address with a prefix of at most /29.
func ParseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: want an IPv4 network in CIDR form, e.g. 10.0.9.0/24", s)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: only IPv4 subnets are supported", s)
	}
	if p.Bits() > MaxSubnetBits {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: a subnet holds at most /%d (6 addresses), for a gateway and its tasks", s, MaxSubnetBits)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: it should be %s", s, p.Masked())
	}
	return p, nil
}

// ParseGateway reads a gateway address, which must be a host address of
// subnet.
func ParseGateway(s string, subnet netip.Prefix) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("invalid gateway %q: want an IPv4 address", s)
	}
	f, l := hosts(subnet)
	if v := uint64(Uint32(a)); !subnet.Contains(a) || v < f || v > l {
		return netip.Addr{}, fmt.Errorf("invalid gateway %s: not a host address of subnet %s", a, subnet)
	}
	return a, nil
}

// NextAddr returns a free host address of subnet, the first after hint
// (the address handed out last; the zero Addr starts at the subnet's
// first host). taken says whether an address is in use; the gateway must
// be among them. It probes a bounded number of addresses, so a huge,
// nearly full subnet may report ErrExhausted while a few addresses are
// still free.
func NextAddr(subnet netip.Prefix, hint netip.Addr, taken func(netip.Addr) bool) (netip.Addr, error) {
	if !subnet.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("subnet %s: only IPv4 is supported", subnet)
	}
	f, l := hosts(subnet)
	h := uint64(0)
	if hint.Is4() {
		h = uint64(Uint32(hint))
	}
	v, err := next(f, l, h, maxAddrProbes, func(v uint64) bool { return taken(Addr4(uint32(v))) })
	if err != nil {
		if l-f+1 > maxAddrProbes {
			return netip.Addr{}, exhaustedf("none free among the %d addresses of %s tried", maxAddrProbes, subnet)
		}
		return netip.Addr{}, exhaustedf("subnet %s is full", subnet)
	}
	return Addr4(uint32(v)), nil
}
