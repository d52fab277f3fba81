//go:build linux

package netagent

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/api"
)

// vipTable is the table, in each task's namespace, that balances the
// connections the task opens to a virtual IP over the service's ready
// tasks (Swarm programs IPVS there; kube-proxy's nftables mode is the
// model):
//
//	table ip shoal-vip {
//		map vip0 { type integer : ipv4_addr; elements = { 0 : 10.0.1.5, 1 : 10.0.1.6 } }
//		chain out { type nat hook output priority -100
//			ip daddr 10.0.1.2 dnat to numgen random mod 2 map @vip0 } }
//
// Only the address is rewritten, so every port and UDP go through. The
// choice is made on a connection's first packet; conntrack keeps the
// connection on its task, so a task leaving the map takes no new
// connections and keeps the ones it has.
const vipTable = "shoal-vip"

// icmpPortUnreachable is ICMP's destination-unreachable code 3: a TCP
// connect fails with "connection refused".
const icmpPortUnreachable = 3

// vipRule is one virtual IP and the addresses it balances over.
type vipRule struct {
	vip      netip.Addr
	backends []netip.Addr
}

// vipRules returns the virtual IPs a task on nets reaches, with the ready
// tasks behind each, sorted, from the view.
func vipRules(v View, nets []string) []vipRule {
	on := map[string]bool{}
	for _, n := range nets {
		on[n] = true
	}
	type key struct{ svc, net string }
	backends := map[key][]netip.Addr{}
	for _, t := range v.Tasks {
		if !Ready(t) {
			continue
		}
		for _, na := range t.NetworksAttachments {
			if !on[na.Network.ID] || len(na.Addresses) == 0 {
				continue
			}
			if p, err := netip.ParsePrefix(na.Addresses[0]); err == nil {
				k := key{t.ServiceID, na.Network.ID}
				backends[k] = append(backends[k], p.Addr())
			}
		}
	}
	var out []vipRule
	for _, svc := range v.Services {
		if svc.Endpoint == nil || svc.Spec.EndpointSpec.EndpointMode() != api.EndpointModeVIP {
			continue
		}
		for _, vip := range svc.Endpoint.VirtualIPs {
			p, err := netip.ParsePrefix(vip.Addr)
			if !on[vip.NetworkID] || err != nil {
				continue
			}
			b := backends[key{svc.ID, vip.NetworkID}]
			slices.SortFunc(b, netip.Addr.Compare)
			out = append(out, vipRule{vip: p.Addr(), backends: b})
		}
	}
	slices.SortFunc(out, func(a, b vipRule) int { return a.vip.Compare(b.vip) })
	return out
}

// render is the rules as text, to tell whether they changed.
func render(rules []vipRule) string {
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&b, "%s>%v;", r.vip, r.backends)
	}
	return b.String()
}

// writeVIPs (re)writes the task's VIP table, in one transaction. A
// connection to a VIP with no ready task is refused (ICMP port
// unreachable, in chain "empty").
func writeVIPs(nsPath string, rules []vipRule) error {
	return rewriteTable(nsPath, vipTable, func(c *nftables.Conn, t *nftables.Table, out *nftables.Chain) error {
		var filter *nftables.Chain
		for i, r := range rules {
			if len(r.backends) == 0 {
				// Refused at once, as kube-proxy does, rather than left
				// to time out.
				if filter == nil {
					filter = c.AddChain(&nftables.Chain{Name: "empty", Table: t, Type: nftables.ChainTypeFilter,
						Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter})
				}
				c.AddRule(&nftables.Rule{Table: t, Chain: filter, Exprs: []expr.Any{
					&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: r.vip.AsSlice()},
					&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreachable},
				}})
				continue
			}
			m := &nftables.Set{Table: t, Name: "vip" + strconv.Itoa(i), IsMap: true, Constant: true,
				KeyType: nftables.TypeInteger, DataType: nftables.TypeIPAddr}
			var elems []nftables.SetElement
			for j, b := range r.backends {
				// numgen leaves its number in host byte order.
				elems = append(elems, nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(j)), Val: b.AsSlice()})
			}
			if err := c.AddSet(m, elems); err != nil {
				return fmt.Errorf("map of %s: %w", r.vip, err)
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: r.vip.AsSlice()},
				&expr.Numgen{Register: 1, Modulus: uint32(len(r.backends)), Type: unix.NFT_NG_RANDOM},
				&expr.Lookup{SourceRegister: 1, DestRegister: 1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
				&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
			}})
		}
		return nil
	})
}
