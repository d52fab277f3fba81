package mesh

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// The rules of the networks live in a table of our own, inet shoal:
//
//   - forward (filter): no new connection into a network from elsewhere
//     (another network or the outside) unless the routing mesh DNATed it,
//     which also isolates networks from each other; nothing at all out of
//     or in to an internal network but what crosses its bridge;
//   - postrouting (nat): masquerade of what leaves a non-internal network.
//
// In nftables an accept in one base chain does not stop another base chain
// of the same hook from dropping the packet. Docker, through iptables-nft,
// keeps a table "ip filter" whose FORWARD chain has policy drop; with
// br_netfilter on, even frames between two ports of one bridge pass that
// hook. So each network also gets two accept rules (in and out of its
// bridge) at the top of Docker's DOCKER-USER chain (the chain Docker leaves
// to its users), or of FORWARD when there is no DOCKER-USER. They are
// written the way iptables-nft writes `-i NAME -j ACCEPT`, so Docker's
// iptables still reads the table. Our own table holds the drops, which no
// other table can undo.
//
// Every rule carries the comment "shoal net=<id>" (nftables user data),
// by which it is found to be replaced or removed. The table also filters
// VXLAN packets by their source and VNI (vteps.go); it goes with the last
// network.

// shoalTable is our table.
var shoalTable = &nftables.Table{Name: "shoal", Family: nftables.TableFamilyINet}

// Docker's (iptables-nft's) filter table and chains.
const (
	iptFilterTable = "filter"
	iptForward     = "FORWARD"
	iptDockerUser  = "DOCKER-USER"
)

func forwardChain() *nftables.Chain {
	return &nftables.Chain{
		Name: "forward", Table: shoalTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter,
	}
}

func postroutingChain() *nftables.Chain {
	return &nftables.Chain{
		Name: "postrouting", Table: shoalTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	}
}

// ruleTag is the comment of the rules of network id.
func ruleTag(id string) string { return aliasTag + " net=" + id }

// tagOf returns the comment of a rule.
func tagOf(r *nftables.Rule) string {
	s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
	return s
}

// ensureRules replaces the network's rules, in one transaction.
func (n *Node) ensureRules(nw Network) error {
	c, err := n.nft()
	if err != nil {
		return err
	}
	tag := ruleTag(nw.ID)
	ud := userdata.AppendString(nil, userdata.TypeComment, tag)
	br := bridgeName(nw.VNI)

	// Listing reads the kernel, not the queued batch: delete first.
	if _, err := n.deleteTagged(c, tag); err != nil {
		return err
	}
	c.AddTable(shoalTable)
	fwd, post := c.AddChain(forwardChain()), c.AddChain(postroutingChain())
	if err := n.vtepFilter(c); err != nil {
		return err
	}
	drop := &expr.Verdict{Kind: expr.VerdictDrop}
	add := func(ch *nftables.Chain, exprs ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: shoalTable, Chain: ch, Exprs: exprs, UserData: ud})
	}
	if nw.Internal {
		// Nothing leaves the bridge and nothing enters it but what
		// crosses it (frames between its ports, VXLAN included).
		add(fwd, cat(ifname(expr.MetaKeyIIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br), drop)...)
		add(fwd, cat(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br), ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br), drop)...)
	} else {
		// Nothing enters the network from elsewhere (the outside or
		// another network's bridge) but replies and what the routing mesh
		// DNATed: this isolates networks from each other, and still lets a
		// task reach a port published on the node by a task of another
		// network.
		add(fwd, cat(ifname(expr.MetaKeyOIFNAME, expr.CmpOpEq, br),
			ifname(expr.MetaKeyIIFNAME, expr.CmpOpNeq, br),
			ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED, expr.CmpOpEq),
			ctBits(expr.CtKeySTATUS, ipsDstNAT, expr.CmpOpEq),
			drop)...)
		// Masquerade what leaves the network for elsewhere.
		add(post, cat(saddrIn4(nw),
			ifname(expr.MetaKeyOIFNAME, expr.CmpOpNeq, br),
			[]expr.Any{&expr.Masq{}})...)
	}
	if err := n.acceptInIPTables(c, br, ud); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("write rules of network %s: %w", nw.ID, err)
	}
	return nil
}

// acceptInIPTables adds the bridge's accept rules to the top of Docker's
// (iptables-nft's) forward chain, if that table exists.
func (n *Node) acceptInIPTables(c *nftables.Conn, br string, ud []byte) error {
	chains, err := iptablesChains(c)
	if err != nil || len(chains) == 0 {
		return err
	}
	// DOCKER-USER when there is one (it sorts after FORWARD).
	ch := chains[len(chains)-1]
	accept := []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictAccept}}
	for _, key := range []expr.MetaKey{expr.MetaKeyOIFNAME, expr.MetaKeyIIFNAME} {
		c.InsertRule(&nftables.Rule{Table: ch.Table, Chain: ch,
			Exprs: cat(ifname(key, expr.CmpOpEq, br), accept), UserData: ud})
	}
	return nil
}

// iptablesChains returns the chains of iptables-nft's filter table our
// accept rules may be in: FORWARD, then DOCKER-USER, those that exist
// (none if there is no such table).
func iptablesChains(c *nftables.Conn) ([]*nftables.Chain, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == iptFilterTable }) {
		return nil, nil
	}
	all, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list chains of ip filter: %w", err)
	}
	var chains []*nftables.Chain
	for _, name := range []string{iptForward, iptDockerUser} {
		for _, ch := range all {
			if ch.Table.Name == iptFilterTable && ch.Name == name {
				chains = append(chains, ch)
			}
		}
	}
	return chains, nil
}

// deleteTagged queues the deletion of the rules tagged tag in our chains
// and iptables-nft's. It returns how many rules stay in our table, -1 if
// there is no table.
func (n *Node) deleteTagged(c *nftables.Conn, tag string) (left int, err error) {
	chains, err := iptablesChains(c)
	if err != nil {
		return 0, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return 0, fmt.Errorf("list nftables tables: %w", err)
	}
	left = -1
	if slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == shoalTable.Name }) {
		left = 0
		chains = append(chains, forwardChain(), postroutingChain())
	}
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if errors.Is(err, unix.ENOENT) {
			continue // chain not there yet
		}
		if err != nil {
			return 0, fmt.Errorf("list rules of %s %s: %w", ch.Table.Name, ch.Name, err)
		}
		for _, r := range rules {
			switch {
			case tagOf(r) == tag:
				if err := c.DelRule(r); err != nil {
					return 0, fmt.Errorf("delete rule of %s %s: %w", ch.Table.Name, ch.Name, err)
				}
			case ch.Table == shoalTable:
				left++
			}
		}
	}
	return left, nil
}

// removeRules removes the network's rules, and our table once it holds
// none.
func (n *Node) removeRules(id string) error {
	c, err := n.nft()
	if err != nil {
		return err
	}
	left, err := n.deleteTagged(c, ruleTag(id))
	if err != nil {
		return err
	}
	if left == 0 {
		c.DelTable(shoalTable)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete rules of network %s: %w", id, err)
	}
	return nil
}

// ruleNetworks returns the IDs of the networks that have rules on this
// node, in our table or iptables-nft's.
func (n *Node) ruleNetworks() (map[string]bool, error) {
	c, err := n.nft()
	if err != nil {
		return nil, err
	}
	chains, err := iptablesChains(c)
	if err != nil {
		return nil, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	if slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == shoalTable.Name }) {
		chains = append(chains, forwardChain(), postroutingChain())
	}
	ids := map[string]bool{}
	for _, ch := range chains {
		rules, err := c.GetRules(ch.Table, ch)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list rules of %s %s: %w", ch.Table.Name, ch.Name, err)
		}
		for _, r := range rules {
			if kv := parseAlias(tagOf(r)); kv != nil && kv["net"] != "" {
				ids[kv["net"]] = true
			}
		}
	}
	return ids, nil
}

// ipsDstNAT is conntrack's IPS_DST_NAT status bit.
const ipsDstNAT = 1 << 5

// cat joins expression lists.
func cat(parts ...any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		switch p := p.(type) {
		case []expr.Any:
			out = append(out, p...)
		case expr.Any:
			out = append(out, p)
		}
	}
	return out
}

// ifname compares an interface name (iifname or oifname) with name, as
// iptables-nft does: name and its NUL, so "shbr-1" does not match
// "shbr-10".
func ifname(key expr.MetaKey, op expr.CmpOp, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: op, Register: 1, Data: append([]byte(name), 0)},
	}
}

// ctBits tests conntrack's key (state or status) for bits: op CmpOpNeq
// means "has one of them", CmpOpEq "has none".
func ctBits(key expr.CtKey, bits uint32, op expr.CmpOp) []expr.Any {
	zero := binaryutil.NativeEndian.PutUint32(0)
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: zero},
		&expr.Cmp{Op: op, Register: 1, Data: zero},
	}
}

// saddrIn4 matches IPv4 packets from the network's subnet.
func saddrIn4(nw Network) []expr.Any {
	mask := ipNet(nw.Subnet).Mask
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: nw.Subnet.Addr().AsSlice()},
	}
}
