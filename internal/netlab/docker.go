package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Docker's ports on a node.
//
// The nodes of a lab share the host's Docker engine, which publishes a
// container's port on the address it is given (shoal's docker runtime
// gives the node's address) in the host's namespace, where that address
// must be local: a real node's engine is on the node. HostsDocker makes
// that so for a node: the host holds the node's address on lo (the lab's
// bridge does not answer ARP for it, and the host does not track the
// frames it bridges to it, so the other nodes still reach the node
// itself), and the node gets a second address on eth0 (Alt) that the
// host routes back to it. ForwardToContainer then does in the node
// what the engine's port mapping does on a real node: a connection (or
// UDP flow) to the node's address on the host port goes to the
// container's address on its target port, from Alt. The host itself
// then reaches the node's address only on lo: dial the node from
// another node (Node.Dial).

// HostsDocker lets the host's Docker engine publish ports on the node's
// address; see above. The lab's cleanup removes the host's address.
func (l *Lab) HostsDocker(n *Node) error {
	if n.Alt.IsValid() {
		return nil
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+l.Bridge+"/arp_ignore", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("netlab: arp_ignore of %s: %w", l.Bridge, err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(n.Addr, 32))}); err != nil {
		return fmt.Errorf("netlab: node %s's address on the host's lo: %w", n.Name, err)
	}
	l.hosted = append(l.hosted, n.Addr)
	if err := l.untrack(n.Addr); err != nil {
		return err
	}
	alt := n.Addr
	for range 100 {
		alt = alt.Next()
	}
	h, err := n.Handle()
	if err != nil {
		return err
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(alt, l.Subnet.Bits()))}); err != nil {
		return fmt.Errorf("netlab: node %s: address %v: %w", n.Name, alt, err)
	}
	n.Alt = alt
	return n.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) })
}

// untrack keeps the host's connection tracking (and so Docker's port
// mapping, which matches the addresses the host holds) off the frames
// the lab's bridge carries to addr: they are the node's, not the
// host's. br_netfilter passes bridged frames through the host's
// prerouting hook, where Docker's DNAT would take them and drop them.
func (l *Lab) untrack(addr netip.Addr) error {
	c, err := nftables.New()
	if err != nil {
		return err
	}
	tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "netlab-" + l.id})
	ch := c.AddChain(&nftables.Chain{Name: "pre", Table: tb, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw})
	c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(l.Bridge)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr.AsSlice()},
		&expr.Notrack{},
	}})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netlab: untrack %v on the host: %w", addr, err)
	}
	return nil
}

// ForwardToContainer maps the node's port (proto "tcp" or "udp") to a
// container's address and target port, as the node's Docker engine
// would; the node must be HostsDocker's. The rules are in table "ip
// netlab-docker" of the node, which goes with the namespace.
func (n *Node) ForwardToContainer(proto string, port uint16, to netip.AddrPort) error {
	if !n.Alt.IsValid() {
		return fmt.Errorf("netlab: node %s: not HostsDocker's", n.Name)
	}
	var l4 byte
	switch proto {
	case "tcp", "":
		l4 = unix.IPPROTO_TCP
	case "udp":
		l4 = unix.IPPROTO_UDP
	default:
		return fmt.Errorf("netlab: protocol %q", proto)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)))
	if err != nil {
		return err
	}
	tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "netlab-docker"})
	chain := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio})
	}
	match := func(dst netip.Addr, port uint16) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{l4}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst.AsSlice()},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(port >> 8), byte(port)}},
		}
	}
	dnat := append(match(n.Addr, port),
		&expr.Immediate{Register: 1, Data: to.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: []byte{byte(to.Port() >> 8), byte(to.Port())}},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2})
	for _, ch := range []*nftables.Chain{
		chain("pre", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		chain("out", nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
	} {
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: dnat})
	}
	post := chain("post", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	c.AddRule(&nftables.Rule{Table: tb, Chain: post, Exprs: append(match(to.Addr(), to.Port()),
		&expr.Immediate{Register: 1, Data: n.Alt.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netlab: node %s: forward %s/%d to %v: %w", n.Name, proto, port, to, err)
	}
	return nil
}

// Dial connects from inside the node (the socket is made there).
func (n *Node) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var conn net.Conn
	err := n.Do(func() error {
		var err error
		conn, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return conn, err
}

// ForwardPorts sends the TCP connections to the node's address on ports
// first to last (those a Docker engine picks its host ports from) to
// the same ports of to, from the node's address: the host's engine,
// which publishes on to (an address of the host's namespace), serves the
// node's containers as if it were the node's. Unlike HostsDocker, the
// host does not hold the node's address, so the host itself still
// reaches the node there (its VXLAN traffic, its ingress). The rules are
// in table "ip netlab-engine" of the node, which goes with the
// namespace.
func (n *Node) ForwardPorts(to netip.Addr, first, last uint16) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)))
	if err != nil {
		return err
	}
	tb := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "netlab-engine"})
	chain := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: tb, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio})
	}
	match := func(dst netip.Addr) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: dst.AsSlice()},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: []byte{byte(first >> 8), byte(first)}},
			&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: []byte{byte(last >> 8), byte(last)}},
		}
	}
	dnat := append(match(n.Addr),
		&expr.Immediate{Register: 1, Data: to.AsSlice()},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})
	for _, ch := range []*nftables.Chain{
		chain("pre", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest),
		chain("out", nftables.ChainHookOutput, nftables.ChainPriorityNATDest),
	} {
		c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: dnat})
	}
	// What came in on eth0 goes back out from the node's address, so
	// that the answers come back through the node's NAT.
	post := chain("post", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	c.AddRule(&nftables.Rule{Table: tb, Chain: post, Exprs: append([]expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("eth0")},
	}, append(match(to),
		&expr.Immediate{Register: 1, Data: n.Addr.AsSlice()},
		&expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1})...)})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netlab: node %s: forward tcp/%d-%d to %v: %w", n.Name, first, last, to, err)
	}
	return n.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644) })
}
