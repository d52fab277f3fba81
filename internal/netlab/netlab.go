// Package netlab makes, on one machine, a network of "nodes" for
// programs that need several hosts (the e2e tests, through
// internal/testutil/netlab, and `shoal demo --tour`'s extra nodes): each
// node is a network namespace with one interface (eth0) on a bridge of
// the host's namespace, with its own address on the lab's subnet
// (10.213.X.0/24, X random), and the host itself at the subnet's first
// address (HostAddr) on the bridge. Programs run inside a node with
// Node.Start (a real process, started from a thread switched into the
// node's namespace, so no `ip netns exec`) or Node.Do (a function on a
// locked thread).
//
// Docker's FORWARD policy drops what crosses a bridge (br_netfilter makes
// even bridged frames pass iptables), so the lab adds two accept rules
// for its bridge at the top of iptables-nft's DOCKER-USER chain (FORWARD
// without it), tagged with the bridge's name.
//
// Close removes everything: the bridge, the veths, the rules, and the
// namespaces once nothing else holds them (stop the processes started in
// them first). Names carry a random suffix (after a prefix, "nl" unless
// NewNamed says), so labs running at the same time do not collide.
package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/internal/nsthread"
)

// Lab is a bridge and the nodes on it.
type Lab struct {
	// Bridge is the name of the bridge in the host's namespace.
	Bridge string
	// Subnet is the lab's subnet; HostAddr, its first address, is the
	// host's on the bridge.
	Subnet   netip.Prefix
	HostAddr netip.Addr
	prefix   string
	id       string
	nodes    []*Node
	hosted   []netip.Addr // nodes' addresses on the host's lo (HostsDocker)
}

// Node is a network namespace on the lab's bridge.
type Node struct {
	// Name is the name the lab's user gave it.
	Name string
	// Addr is its address on eth0.
	Addr netip.Addr
	// Alt is its second address on eth0, once the lab HostsDocker it.
	Alt  netip.Addr
	ns   netns.NsHandle
	veth string // the host side
}

// New makes a lab (root only) whose links are named nlb-ID (the bridge)
// and nlID-N (the nodes' veths). On an error it removes what it made;
// else Close does.
func New() (*Lab, error) { return NewNamed("nl") }

// NewNamed is New with another prefix for the links' names (at most 4
// bytes: a link name has 15): PREFIXb-ID and PREFIXID-N.
func NewNamed(prefix string) (*Lab, error) {
	if len(prefix) > 4 {
		return nil, fmt.Errorf("netlab: prefix %q is longer than 4 bytes", prefix)
	}
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	id := hex.EncodeToString(b[:2])
	l := &Lab{prefix: prefix, id: id, Bridge: prefix + "b-" + id}
	var err error
	if l.Subnet, err = freeSubnet(b[2]); err != nil {
		return nil, err
	}
	l.HostAddr = l.Subnet.Addr().Next()
	if err := l.makeBridge(); err != nil {
		return nil, errors.Join(err, l.Close())
	}
	return l, nil
}

func (l *Lab) makeBridge() error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: l.Bridge}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("netlab: add bridge %s: %w", l.Bridge, err)
	}
	if err := netlink.AddrAdd(br, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(l.HostAddr, l.Subnet.Bits()))}); err != nil {
		return fmt.Errorf("netlab: address of bridge %s: %w", l.Bridge, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("netlab: bridge %s up: %w", l.Bridge, err)
	}
	if err := acceptBridge(l.Bridge); err != nil {
		return fmt.Errorf("netlab: %w", err)
	}
	return nil
}

// freeSubnet picks 10.213.X.0/24, starting from X = start, that no
// address of the host is in.
func freeSubnet(start byte) (netip.Prefix, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	for i := 0; i < 10 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		addrs, err = netlink.AddrList(nil, netlink.FAMILY_V4)
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("netlab: list addresses: %w", err)
	}
	for i := 0; i < 256; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, start + byte(i), 0}), 24)
		if !slices.ContainsFunc(addrs, func(a netlink.Addr) bool {
			ip, ok := netip.AddrFromSlice(a.IP.To4())
			return ok && p.Contains(ip)
		}) {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("netlab: every 10.213.X.0/24 is in use on this host")
}

// AddNode makes a node: a namespace with lo up and eth0 on the bridge at
// the next address of the subnet, with a default route through the host.
// Close removes it with the lab, also after an error here.
func (l *Lab) AddNode(name string) (*Node, error) {
	addr := l.HostAddr
	for range len(l.nodes) + 1 {
		addr = addr.Next()
	}
	n := &Node{Name: name, Addr: addr, veth: fmt.Sprintf("%s%s-%d", l.prefix, l.id, len(l.nodes))}
	var err error
	n.ns, err = newNamespace()
	if err != nil {
		return nil, fmt.Errorf("netlab: node %s: %w", name, err)
	}
	l.nodes = append(l.nodes, n)
	br, err := netlink.LinkByName(l.Bridge)
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n.veth, MasterIndex: br.Attrs().Index},
		PeerName: "eth0", PeerNamespace: netlink.NsFd(n.ns)}
	if err := netlink.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("netlab: node %s: add veth: %w", name, err)
	}
	if err := netlink.LinkSetUp(veth); err != nil {
		return nil, fmt.Errorf("netlab: node %s: veth up: %w", name, err)
	}
	if err := n.configure(netip.PrefixFrom(addr, l.Subnet.Bits()), l.HostAddr); err != nil {
		return nil, fmt.Errorf("netlab: node %s: %w", name, err)
	}
	return n, nil
}

// configure brings lo and eth0 up in the node, with its address and a
// default route through gw.
func (n *Node) configure(addr netip.Prefix, gw netip.Addr) error {
	h, err := netlink.NewHandleAt(n.ns)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, name := range []string{"lo", "eth0"} {
		l, err := h.LinkByName(name)
		if err != nil {
			return err
		}
		if name == "eth0" {
			if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
				return fmt.Errorf("address %v: %w", addr, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("%s up: %w", name, err)
		}
		if name == "eth0" {
			if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(gw.AsSlice())}); err != nil {
				return fmt.Errorf("default route: %w", err)
			}
		}
	}
	return nil
}

// Nodes are the lab's nodes, in the order they were added.
func (l *Lab) Nodes() []*Node { return slices.Clone(l.nodes) }

// newNamespace makes a network namespace and returns a handle to it; the
// calling goroutine's thread never leaves its own.
func newNamespace() (netns.NsHandle, error) {
	var ns netns.NsHandle
	err := nsthread.Run(func() error {
		var err error
		ns, err = netns.New() // unshares the thread; nsthread.Run switches back
		return err
	}, nil)
	return ns, err
}

// Do runs fn on a thread switched into the node's namespace.
func (n *Node) Do(fn func() error) error {
	return nsthread.Run(func() error { return netns.Set(n.ns) }, fn)
}

// Start starts cmd inside the node's namespace: the child is forked from
// a thread switched into it, and the thread switches back. Wait, Kill and
// the pipes work as for any command.
func (n *Node) Start(cmd *exec.Cmd) error {
	return n.Do(cmd.Start)
}

// Path is a path that opens the node's namespace while the lab lives
// (/proc/PID/fd/N of this process), for APIs that take a path.
func (n *Node) Path() string { return fmt.Sprintf("/proc/%d/fd/%d", unix.Getpid(), int(n.ns)) }

// Handle is a netlink handle working in the node's namespace; close it
// when done.
func (n *Node) Handle() (*netlink.Handle, error) { return netlink.NewHandleAt(n.ns) }

// Links lists the names of the node's links.
func (n *Node) Links() ([]string, error) {
	h, err := n.Handle()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	ls, err := h.LinkList()
	for i := 0; i < 10 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		ls, err = h.LinkList()
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Attrs().Name)
	}
	slices.Sort(out)
	return out, nil
}

// Tables lists the node's nftables tables as FAMILY NAME.
func (n *Node) Tables() ([]string, error) {
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)))
	if err != nil {
		return nil, err
	}
	ts, err := c.ListTables()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%v %s", familyName(t.Family), t.Name))
	}
	slices.Sort(out)
	return out, nil
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	}
	return fmt.Sprint(uint8(f))
}

// Close removes what the lab made: the veths (their namespace ends go
// with them), the namespaces' handles, the bridge and its rules. A
// namespace some process still holds (a program started in it that
// outlived its user, or a thread left in it) is an error naming the
// process. It may be called again after an error.
func (l *Lab) Close() error {
	var errs []error
	var inodes []string
	for _, n := range l.nodes {
		if lk, err := netlink.LinkByName(n.veth); err == nil {
			errs = append(errs, netlink.LinkDel(lk))
		}
		if link, err := os.Readlink(n.Path()); err == nil {
			inodes = append(inodes, link) // "net:[INODE]"
		}
		if n.ns.IsOpen() {
			errs = append(errs, n.ns.Close())
		}
	}
	errs = append(errs, heldBy(inodes))
	if len(l.hosted) > 0 {
		if c, err := nftables.New(); err == nil {
			c.DelTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: "netlab-" + l.id})
			errs = append(errs, c.Flush())
		}
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		for _, a := range l.hosted {
			errs = append(errs, netlink.AddrDel(lo, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, 32))}))
		}
		l.hosted = nil
	}
	if br, err := netlink.LinkByName(l.Bridge); err == nil {
		errs = append(errs, netlink.LinkDel(br))
	}
	errs = append(errs, dropAccept(l.Bridge))
	return errors.Join(errs...)
}

// Holders are the processes with a thread in one of the lab's node
// namespaces, for its user to stop before Close.
func (l *Lab) Holders() []int {
	var inodes []string
	for _, n := range l.nodes {
		if link, err := os.Readlink(n.Path()); err == nil {
			inodes = append(inodes, link)
		}
	}
	var pids []int
	for _, p := range threadsIn(inodes) {
		var pid, tid int
		if _, err := fmt.Sscanf(p, "/proc/%d/task/%d/", &pid, &tid); err == nil && !slices.Contains(pids, pid) && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// threadsIn are the /proc/PID/task/TID/ns/net paths of the threads in
// one of the namespaces ("net:[INODE]").
func threadsIn(namespaces []string) []string {
	if len(namespaces) == 0 {
		return nil
	}
	paths, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/ns/net")
	var in []string
	for _, p := range paths {
		if link, err := os.Readlink(p); err == nil && slices.Contains(namespaces, link) {
			in = append(in, p)
		}
	}
	return in
}

// heldBy returns an error naming the threads of any process still in one
// of the namespaces (as /proc/*/task/*/ns/net shows them).
func heldBy(namespaces []string) error {
	var held []string
	for _, p := range threadsIn(namespaces) {
		link, _ := os.Readlink(p)
		held = append(held, fmt.Sprintf("%s (%s)", strings.Split(p, "/")[4], link))
	}
	if len(held) > 0 {
		return fmt.Errorf("node namespaces still held by threads %s: stop what runs in a node before the lab's cleanup", strings.Join(held, ", "))
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// ruleTag is the comment of the lab's accept rules.
func ruleTag(bridge string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, "netlab "+bridge)
}

// forwardChain returns iptables-nft's DOCKER-USER chain, else its FORWARD
// chain, or nil when there is no "ip filter" table (nothing drops).
func forwardChain(c *nftables.Conn) (*nftables.Chain, error) {
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	var found *nftables.Chain
	for _, name := range []string{"FORWARD", "DOCKER-USER"} {
		for _, ch := range chains {
			if ch.Table.Name == "filter" && ch.Name == name {
				found = ch
			}
		}
	}
	return found, nil
}

// openForward connects to nftables and finds forwardChain (nil: none).
func openForward() (*nftables.Conn, *nftables.Chain, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, nil, err
	}
	ch, err := forwardChain(c)
	return c, ch, err
}

// acceptBridge inserts `-i BRIDGE -j ACCEPT` and `-o BRIDGE -j ACCEPT`.
func acceptBridge(bridge string) error {
	c, ch, err := openForward()
	if err != nil || ch == nil {
		return err
	}
	for _, key := range []expr.MetaKey{expr.MetaKeyIIFNAME, expr.MetaKeyOIFNAME} {
		c.InsertRule(&nftables.Rule{Table: ch.Table, Chain: ch, UserData: ruleTag(bridge), Exprs: []expr.Any{
			&expr.Meta{Key: key, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(bridge)},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("accept rules for %s: %w", bridge, err)
	}
	return nil
}

// dropAccept deletes the bridge's accept rules.
func dropAccept(bridge string) error {
	c, ch, err := openForward()
	if err != nil || ch == nil {
		return err
	}
	rules, err := c.GetRules(ch.Table, ch)
	if err != nil {
		return fmt.Errorf("list rules of %s: %w", ch.Name, err)
	}
	tag := string(ruleTag(bridge))
	n := 0
	for _, r := range rules {
		if string(r.UserData) == tag {
			if err := c.DelRule(r); err != nil {
				return err
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete accept rules of %s: %w", bridge, err)
	}
	return nil
}

// ifname is an interface name as nftables compares it: NUL-padded to
// IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// HasRules reports whether the host still holds accept rules of the
// bridge; for tests of the lab itself.
func HasRules(bridge string) (bool, error) {
	c, ch, err := openForward()
	if err != nil || ch == nil {
		return false, err
	}
	rules, err := c.GetRules(ch.Table, ch)
	if err != nil {
		return false, err
	}
	tag := string(ruleTag(bridge))
	return slices.ContainsFunc(rules, func(r *nftables.Rule) bool { return strings.Contains(string(r.UserData), tag) }), nil
}
