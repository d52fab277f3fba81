package allocator

import (
	"net/netip"
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyAddressesNeverTwice allocates and releases addresses at
// random: no address is handed out while held, none lies outside the
// subnet's hosts, the gateway is never handed out, and an allocation fails
// only when the subnet is full.
func TestPropertyAddressesNeverTwice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bits := rapid.IntRange(24, MaxSubnetBits).Draw(t, "bits")
		subnet := netip.PrefixFrom(netip.MustParseAddr("10.0.4.0"), bits).Masked()
		gw := Gateway(subnet)
		held := map[netip.Addr]bool{gw: true}
		var order []netip.Addr
		var hint netip.Addr
		capacity := (1 << (32 - bits)) - 2
		for i := rapid.IntRange(1, 400).Draw(t, "steps"); i > 0; i-- {
			if len(order) > 0 && rapid.Bool().Draw(t, "release") {
				k := rapid.IntRange(0, len(order)-1).Draw(t, "which")
				delete(held, order[k])
				order = append(order[:k], order[k+1:]...)
				continue
			}
			a, err := NextAddr(subnet, hint, func(a netip.Addr) bool { return held[a] })
			if err != nil {
				if len(held) < capacity {
					t.Fatalf("%s: %v with %d of %d addresses held", subnet, err, len(held), capacity)
				}
				continue
			}
			first, last := hosts(subnet)
			if v := uint64(Uint32(a)); !subnet.Contains(a) || v < first || v > last {
				t.Fatalf("%s handed out %s, not one of its hosts", subnet, a)
			}
			if held[a] {
				t.Fatalf("%s handed out %s twice", subnet, a)
			}
			held[a], hint = true, a
			order = append(order, a)
		}
	})
}

// TestPropertyPortsNeverTwice does the same for published ports.
func TestPropertyPortsNeverTwice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		held := map[uint32]bool{}
		// Some ports are published explicitly in the range.
		for _, p := range rapid.SliceOfN(rapid.Uint32Range(DynamicPortFirst, DynamicPortLast), 0, 20).Draw(t, "explicit") {
			held[p] = true
		}
		var order []uint32
		var hint uint32
		for i := rapid.IntRange(1, 300).Draw(t, "steps"); i > 0; i-- {
			if len(order) > 0 && rapid.Bool().Draw(t, "release") {
				k := rapid.IntRange(0, len(order)-1).Draw(t, "which")
				delete(held, order[k])
				order = append(order[:k], order[k+1:]...)
				continue
			}
			p, err := NextPort(hint, func(p uint32) bool { return held[p] })
			if err != nil {
				t.Fatalf("%v with %d ports held", err, len(held))
			}
			if p < DynamicPortFirst || p > DynamicPortLast || held[p] {
				t.Fatalf("handed out port %d (held %v)", p, held[p])
			}
			held[p], hint = true, p
			order = append(order, p)
		}
	})
}

// TestPropertySubnetsNeverOverlap cuts subnets from random pools, with
// random user subnets in between: no two overlap, each lies in a pool, and
// a failure means no free subnet was left.
func TestPropertySubnetsNeverOverlap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		size := rapid.IntRange(24, 28).Draw(t, "size")
		pools := []string{"10.0.0.0/22"}
		if rapid.Bool().Draw(t, "two pools") {
			pools = append(pools, "172.20.0.0/23")
		}
		pool, err := ParsePool(pools, size)
		if err != nil {
			t.Fatal(err)
		}
		var used []netip.Prefix
		var hint netip.Prefix
		for i := rapid.IntRange(1, 80).Draw(t, "steps"); i > 0; i-- {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				if len(used) > 0 {
					k := rapid.IntRange(0, len(used)-1).Draw(t, "which")
					used = append(used[:k], used[k+1:]...)
				}
				continue
			case 1:
				// A user's subnet, kept only if it overlaps none.
				bits := rapid.IntRange(22, 29).Draw(t, "user bits")
				a := rapid.Uint32Range(0, 1<<11-1).Draw(t, "user addr")
				p := netip.PrefixFrom(Addr4(Uint32(netip.MustParseAddr("10.0.0.0"))+a), bits).Masked()
				if _, clash := Overlapping(p, used); !clash {
					used = append(used, p)
				}
				continue
			}
			got, err := pool.NextSubnet(used, hint)
			if err != nil {
				if free := freeSubnet(pool, used); free.IsValid() {
					t.Fatalf("%v, but %s is free", err, free)
				}
				continue
			}
			if got.Bits() != size {
				t.Fatalf("subnet %s: want /%d", got, size)
			}
			if o, clash := Overlapping(got, used); clash {
				t.Fatalf("subnet %s overlaps %s", got, o)
			}
			in := false
			for _, p := range pool.Prefixes {
				in = in || (p.Contains(got.Addr()) && p.Bits() <= got.Bits())
			}
			if !in {
				t.Fatalf("subnet %s is outside the pools %v", got, pools)
			}
			used, hint = append(used, got), got
		}
	})
}

// freeSubnet finds a free subnet the slow way, to check exhaustion.
func freeSubnet(p Pool, used []netip.Prefix) netip.Prefix {
	step := uint64(1) << (32 - p.SubnetSize)
	for _, pre := range p.Prefixes {
		f, l := span(pre)
		for c := f; c+step-1 <= l; c += step {
			cand := netip.PrefixFrom(Addr4(uint32(c)), p.SubnetSize)
			if _, clash := Overlapping(cand, used); !clash {
				return cand
			}
		}
	}
	return netip.Prefix{}
}
