package mesh

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VXLAN has no authentication: whoever can send UDP to a node's VXLAN port
// with a network's VNI could put frames on that network. So the node takes
// a network's VXLAN packets only from the nodes it has peers on in that
// network (the destinations of the forwarding entries of that network's
// VXLAN device), kept as (VTEP, VNI) pairs in the set "vxlan-senders" of
// our table; an input rule drops the rest. A node with tasks on one network
// cannot put frames on another, though every node knows every VNI.

// A node's VXLAN devices send from source ports in
// [vxlanSrcPortLow, vxlanSrcPortHigh), below 1024, which only root may
// bind, and VXLAN from another source port is dropped: any user of a
// listed node could otherwise bind the node's address and send VXLAN to
// the other nodes. (The kernel writes the source port itself; nothing
// binds it.)
const (
	vxlanSrcPortLow  = 512
	vxlanSrcPortHigh = 1024
)

// vtepSet is the set of the (VTEP, VNI) pairs VXLAN packets are taken
// from. Its key is the source address and the VXLAN header's second word
// (the VNI and a reserved byte, which the kernel drops packets for unless
// zero).
func vtepSet() *nftables.Set {
	return &nftables.Set{Table: shoalTable, Name: "vxlan-senders", Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeMark)}
}

// vtepKey is the key of vtepSet for packets of VNI vni from vtep.
func vtepKey(vtep netip.Addr, vni uint32) []byte {
	return append(vtep.AsSlice(), byte(vni>>16), byte(vni>>8), byte(vni), 0)
}

func inputChain() *nftables.Chain {
	return &nftables.Chain{
		Name: "input", Table: shoalTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter,
	}
}

// vtepFilter queues, in a batch that adds our table, the set of VTEPs and
// the rule dropping VXLAN packets from anywhere else.
func (n *Node) vtepFilter(c *nftables.Conn) error {
	set := vtepSet()
	if err := c.AddSet(set, nil); err != nil {
		return fmt.Errorf("add set %s: %w", set.Name, err)
	}
	in := c.AddChain(inputChain())
	c.FlushChain(in)
	c.AddRule(&nftables.Rule{Table: shoalTable, Chain: in,
		UserData: userdata.AppendString(nil, userdata.TypeComment, aliasTag+" vxlan"),
		Exprs: append(n.vxlanMatch(),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			// The VNI word: after the UDP header (8) and the flags (4).
			&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, Invert: true},
			&expr.Verdict{Kind: expr.VerdictDrop},
		)})
	c.AddRule(&nftables.Rule{Table: shoalTable, Chain: in,
		UserData: userdata.AppendString(nil, userdata.TypeComment, aliasTag+" vxlan"),
		Exprs: append(n.vxlanMatch(),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
			&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: binaryutil.BigEndian.PutUint16(vxlanSrcPortHigh)},
			&expr.Verdict{Kind: expr.VerdictDrop},
		)})
	return nil
}

// vxlanMatch matches the IPv4 UDP packets to our VXLAN port.
func (n *Node) vxlanMatch() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(n.cfg.VXLANPort)},
	}
}

// refreshVTEPs makes the set of VTEPs the destinations of the forwarding
// entries of all our VXLAN devices. Without our table there is nothing to
// do.
func (n *Node) refreshVTEPs() error {
	ls, err := links(n.nl)
	if err != nil {
		return err
	}
	var vteps [][]byte
	for _, l := range ls {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || !strings.HasPrefix(l.Attrs().Name, vxlanPrefix) || parseAlias(l.Attrs().Alias) == nil {
			continue
		}
		fdb, err := neighbours(n.nl, l.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			return err
		}
		for _, e := range fdb {
			if ip, ok := netip.AddrFromSlice(e.IP.To4()); ok && e.LinkIndex == l.Attrs().Index {
				if k := vtepKey(ip, uint32(vx.VxlanId)); !slices.ContainsFunc(vteps, func(b []byte) bool { return bytes.Equal(b, k) }) {
					vteps = append(vteps, k)
				}
			}
		}
	}
	c, err := n.nft()
	if err != nil {
		return err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("list nftables tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == shoalTable.Name }) {
		return nil
	}
	set := vtepSet()
	c.FlushSet(set)
	if len(vteps) > 0 {
		elems := make([]nftables.SetElement, len(vteps))
		for i, k := range vteps {
			elems[i] = nftables.SetElement{Key: k}
		}
		if err := c.SetAddElements(set, elems); err != nil {
			return fmt.Errorf("fill set %s: %w", set.Name, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("write the VTEPs VXLAN is taken from: %w", err)
	}
	return nil
}
