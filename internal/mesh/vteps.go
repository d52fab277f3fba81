package mesh

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// VXLAN has no authentication: whoever can send UDP to a node's VXLAN port
// with a network's VNI could put frames on that network. So the node takes
// VXLAN packets only from the nodes it has peers on (the destinations of
// its VXLAN devices' forwarding entries), kept in the set "vteps" of our
// table; an input rule drops the rest.

// vtepSet is the set of the VTEPs VXLAN packets are taken from.
func vtepSet() *nftables.Set {
	return &nftables.Set{Table: shoalTable, Name: "vteps", KeyType: nftables.TypeIPAddr}
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
		Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(n.cfg.VXLANPort)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, Invert: true},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}})
	return nil
}

// refreshVTEPs makes the set of VTEPs the destinations of the forwarding
// entries of all our VXLAN devices. Without our table there is nothing to
// do.
func (n *Node) refreshVTEPs() error {
	ls, err := links(n.nl)
	if err != nil {
		return err
	}
	var vteps []netip.Addr
	for _, l := range ls {
		if !strings.HasPrefix(l.Attrs().Name, vxlanPrefix) || parseAlias(l.Attrs().Alias) == nil {
			continue
		}
		fdb, err := neighbours(n.nl, l.Attrs().Index, unix.AF_BRIDGE)
		if err != nil {
			return err
		}
		for _, e := range fdb {
			if ip, ok := netip.AddrFromSlice(e.IP.To4()); ok && e.LinkIndex == l.Attrs().Index && !slices.Contains(vteps, ip) {
				vteps = append(vteps, ip)
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
		for i, ip := range vteps {
			elems[i] = nftables.SetElement{Key: ip.AsSlice()}
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
