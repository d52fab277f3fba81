package allocator

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// The cluster's default address pool, as Swarm's: 10.0.0.0/8 cut into /24s.
const (
	DefaultPool       = "10.0.0.0/8"
	DefaultSubnetSize = 24
)

// Pool is where networks that name no subnet get theirs: subnets of
// SubnetSize bits cut from Prefixes, in order.
type Pool struct {
	Prefixes   []netip.Prefix
	SubnetSize int
}

// DefaultAddrPool returns Swarm's default pool.
func DefaultAddrPool() Pool {
	return Pool{Prefixes: []netip.Prefix{netip.MustParsePrefix(DefaultPool)}, SubnetSize: DefaultSubnetSize}
}

// ParsePool reads the pools of --default-addr-pool and the subnet size of
// --default-addr-pool-mask-length. The pools must be IPv4 networks that
// do not overlap, each at least one subnet large.
func ParsePool(cidrs []string, size int) (Pool, error) {
	if len(cidrs) == 0 {
		return Pool{}, fmt.Errorf("no address pool given")
	}
	if size < 1 || size > MaxSubnetBits {
		return Pool{}, fmt.Errorf("invalid subnet size /%d: want a mask length from 1 to %d", size, MaxSubnetBits)
	}
	p := Pool{SubnetSize: size}
	for _, c := range cidrs {
		pre, err := netip.ParsePrefix(c)
		if err != nil || !pre.Addr().Is4() {
			return Pool{}, fmt.Errorf("invalid address pool %q: want an IPv4 network in CIDR form, e.g. 10.0.0.0/8", c)
		}
		if pre.Masked() != pre {
			return Pool{}, fmt.Errorf("invalid address pool %q: it should be %s", c, pre.Masked())
		}
		if pre.Bits() > size {
			return Pool{}, fmt.Errorf("address pool %s is smaller than one /%d subnet: give a longer mask length or a larger pool", pre, size)
		}
		for _, o := range p.Prefixes {
			if o.Overlaps(pre) {
				return Pool{}, fmt.Errorf("address pools %s and %s overlap", o, pre)
			}
		}
		p.Prefixes = append(p.Prefixes, pre)
	}
	return p, nil
}

// Strings returns the pool's prefixes as text.
func (p Pool) Strings() []string {
	out := make([]string, len(p.Prefixes))
	for i, pre := range p.Prefixes {
		out[i] = pre.String()
	}
	return out
}

// segment is a stretch of candidate subnet starts, first to last.
type segment struct{ first, last uint64 }

// NextSubnet returns a subnet of the pool that overlaps none of used, the
// first after hint (the subnet handed out last), wrapping. used must not
// overlap each other, as the store guarantees. The work is
// bounded by the number of used subnets, not the size of the pool: a
// candidate that overlaps a used subnet jumps past it.
func (p Pool) NextSubnet(used []netip.Prefix, hint netip.Prefix) (netip.Prefix, error) {
	spans := make([]segment, 0, len(used))
	for _, u := range used {
		if u.Addr().Is4() {
			f, l := span(u)
			spans = append(spans, segment{f, l})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].first < spans[j].first })
	step := uint64(1) << (32 - p.SubnetSize)
	// The order of the search: from after the hint to the end of its
	// pool, the pools after it, the pools before it, then its own pool up
	// to the hint.
	var order []segment
	start := 0
	hintAt := uint64(0)
	hinted := false
	if hint.IsValid() && hint.Addr().Is4() {
		h, _ := span(hint)
		for i, pre := range p.Prefixes {
			if pre.Contains(hint.Addr()) {
				start, hintAt, hinted = i, h, true
			}
		}
	}
	for k := 0; k < len(p.Prefixes); k++ {
		f, l := span(p.Prefixes[(start+k)%len(p.Prefixes)])
		if k == 0 && hinted {
			// Align past the hint: hint may be of another size.
			from := f + (hintAt-f)/step*step + step
			order = append(order, segment{from, l})
			continue
		}
		order = append(order, segment{f, l})
	}
	if hinted {
		f, _ := span(p.Prefixes[start])
		order = append(order, segment{f, hintAt + step - 1})
	}
	for _, seg := range order {
		if c, ok := firstFree(seg, step, spans); ok {
			return netip.PrefixFrom(Addr4(uint32(c)), p.SubnetSize), nil
		}
	}
	return netip.Prefix{}, exhaustedf("no free /%d subnet left in the address pool %s", p.SubnetSize, strings.Join(p.Strings(), ", "))
}

// firstFree returns the first subnet of size step, aligned to step, that
// starts and ends within seg and overlaps none of spans (sorted).
func firstFree(seg segment, step uint64, spans []segment) (uint64, bool) {
	for c := seg.first; c+step-1 <= seg.last; {
		end := c + step - 1
		// The first used span that ends at or after c.
		i := sort.Search(len(spans), func(i int) bool { return spans[i].last >= c })
		// Used subnets never overlap (the store refuses that), so sorted
		// by start they are sorted by end too; several may fall inside
		// one candidate.
		clash := uint64(0)
		found := false
		for ; i < len(spans) && spans[i].first <= end; i++ {
			if spans[i].last >= c && spans[i].last > clash {
				clash, found = spans[i].last, true
			}
		}
		if !found {
			return c, true
		}
		// Jump to the first aligned start after the clashing span.
		c = (clash/step + 1) * step
	}
	return 0, false
}

// Overlapping returns the first of used that overlaps subnet.
func Overlapping(subnet netip.Prefix, used []netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if u.Overlaps(subnet) {
			return u, true
		}
	}
	return netip.Prefix{}, false
}
