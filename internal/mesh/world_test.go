package mesh

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// Each test builds its own world of network namespaces: a "node" stands in
// for the host (the package is pointed at it with Config.NetNS), tasks get
// namespaces of their own, and an "outside" namespace stands for the
// internet. Nothing touches the host's links or rules.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// dialTimeout bounds a connection that must fail (dropped packets give no
// answer); connections that must work get far longer.
const dialTimeout = 700 * time.Millisecond

// okTimeout bounds what must work.
const okTimeout = 10 * time.Second

// newNS makes a network namespace for the test, removed when it ends.
func newNS(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ns")
	if err := makeNamespace(p); err != nil {
		t.Fatalf("make namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := removeNamespace(p); err != nil {
			t.Errorf("remove namespace: %v", err)
		}
	})
	return p
}

// sh runs a command in namespace ns and returns its output.
func sh(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=" + ns, "--"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dockerLike gives namespace ns the forward rules Docker keeps on a host:
// iptables' FORWARD policy drop and a DOCKER-USER chain.
func dockerLike(t *testing.T, ns string) {
	t.Helper()
	for _, cmd := range [][]string{
		{"iptables", "-N", "DOCKER-USER"},
		{"iptables", "-A", "DOCKER-USER", "-j", "RETURN"},
		{"iptables", "-A", "FORWARD", "-j", "DOCKER-USER"},
		{"iptables", "-P", "FORWARD", "DROP"},
	} {
		sh(t, ns, cmd...)
	}
}

// node is a test node: its namespace and the Node plumbing it.
type node struct {
	ns string
	*Node
}

// newNode makes a node namespace with Docker's forward rules and a Node on
// it whose VTEP is vtep.
func newNode(t *testing.T, vtep string, port uint16) *node {
	t.Helper()
	n := newBareNode(t, vtep, port)
	dockerLike(t, n.ns)
	return n
}

// newBareNode makes a node namespace with no forward rules (a host without
// Docker) and a Node on it.
func newBareNode(t *testing.T, vtep string, port uint16) *node {
	t.Helper()
	testutil.RequireRoot(t)
	ns := newNS(t)
	n, err := New(Config{NetNS: ns, VTEP: netip.MustParseAddr(vtep), VXLANPort: port, NamespaceDir: filepath.Join(t.TempDir(), "netns")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return &node{ns: ns, Node: n}
}

// task makes a namespace for a task on the node (NewNamespace), removed
// when the test ends.
func (n *node) task(t *testing.T, id string) string {
	t.Helper()
	p, err := n.NewNamespace(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.DeleteNamespace(id); err != nil {
			t.Errorf("delete namespace: %v", err)
		}
	})
	return p
}

// link joins namespaces a and b by a veth pair named name at both ends,
// with the given addresses (prefixes), as a cable between two machines.
func link(t *testing.T, name, a, b string, addrA, addrB string) {
	t.Helper()
	hA := handle(t, a)
	nsB, err := netns.GetFromPath(b)
	if err != nil {
		t.Fatal(err)
	}
	defer nsB.Close()
	if err := hA.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name, PeerNamespace: netlink.NsFd(nsB)}); err != nil {
		t.Fatalf("add %s: %v", name, err)
	}
	for _, end := range []struct {
		h    *netlink.Handle
		addr string
	}{{hA, addrA}, {handle(t, b), addrB}} {
		l, err := end.h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := end.h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix(end.addr))}); err != nil {
			t.Fatal(err)
		}
		if err := end.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
}

// handle returns a netlink handle in namespace ns, closed when the test
// ends.
func handle(t *testing.T, ns string) *netlink.Handle {
	t.Helper()
	h, err := netns.GetFromPath(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	return nl
}

// in runs fn on a thread in namespace ns (sockets made there stay there).
func in(t *testing.T, ns string, fn func() error) error {
	t.Helper()
	h, err := netns.GetFromPath(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	return inNamespace(h, fn)
}

// server is an echo server in a namespace, over TCP and UDP on one port;
// each TCP reply starts with the client's address as the server saw it.
type server struct {
	addr string
	wg   sync.WaitGroup
}

// serve starts an echo server on addr (host:port) in namespace ns, stopped
// when the test ends.
func serve(t *testing.T, ns, addr string) *server {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	if err := in(t, ns, func() (err error) {
		if ln, err = net.Listen("tcp4", addr); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", addr)
		return err
	}); err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	s := &server{addr: addr}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err != nil {
					return
				}
				io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).IP.String()+" "+line)
			}()
		}
	}()
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:k], from)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		pc.Close()
		s.wg.Wait()
	})
	return s
}

// tcp connects from namespace ns to addr, sends a line and returns the
// server's answer: the client address it saw.
func tcp(t *testing.T, ns, addr string, timeout time.Duration) (string, error) {
	t.Helper()
	var c net.Conn
	if err := in(t, ns, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, timeout)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(okTimeout))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return "", err
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	from, rest, _ := strings.Cut(strings.TrimSpace(reply), " ")
	if rest != "hello" {
		return "", errors.New("bad echo: " + reply)
	}
	return from, nil
}

// udp sends a datagram from namespace ns to addr and waits for its echo.
func udp(t *testing.T, ns, addr string, timeout time.Duration) error {
	t.Helper()
	var c net.Conn
	if err := in(t, ns, func() (err error) {
		c, err = net.Dial("udp4", addr)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("datagram")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	k, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:k]) != "datagram" {
		return errors.New("bad echo: " + string(buf[:k]))
	}
	return nil
}

// sink receives UDP datagrams on addr in namespace ns and hands over the
// address of each sender, until the test ends.
func sink(t *testing.T, ns, addr string) <-chan string {
	t.Helper()
	var pc net.PacketConn
	if err := in(t, ns, func() (err error) {
		pc, err = net.ListenPacket("udp4", addr)
		return err
	}); err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	from := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			_, a, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			select {
			case from <- a.(*net.UDPAddr).IP.String():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return from
}

// next returns the next sender a sink got, failing the test if none comes
// within okTimeout.
func next(t *testing.T, from <-chan string) string {
	t.Helper()
	select {
	case a := <-from:
		return a
	case <-time.After(okTimeout):
		t.Fatal("no datagram arrived")
		return ""
	}
}

// onlyControlArrives sends a datagram to addr from namespace blocked, then
// one from namespace control, and checks that the sink of addr gets only
// the control's, from address want (what it sees of the control).
func onlyControlArrives(t *testing.T, got <-chan string, addr, blocked, control, want string) {
	t.Helper()
	send(t, blocked, addr)
	send(t, control, addr)
	if from := next(t, got); from != want {
		t.Fatalf("%s got a datagram from %s, want only the control's (from %s)", addr, from, want)
	}
	select {
	case from := <-got:
		t.Fatalf("%s got a datagram from %s", addr, from)
	case <-time.After(dialTimeout):
	}
}

// send sends one UDP datagram from namespace ns to addr.
func send(t *testing.T, ns, addr string) {
	t.Helper()
	if err := in(t, ns, func() error {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("one way"))
		return err
	}); err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
}

// mustTalk checks that TCP and UDP from namespace ns reach addr.
func mustTalk(t *testing.T, ns, addr string) {
	t.Helper()
	if _, err := tcp(t, ns, addr, okTimeout); err != nil {
		t.Fatalf("TCP to %s: %v", addr, err)
	}
	if err := udp(t, ns, addr, okTimeout); err != nil {
		t.Fatalf("UDP to %s: %v", addr, err)
	}
}

// mustNotTalk checks that TCP from namespace ns does not reach addr.
func mustNotTalk(t *testing.T, ns, addr string) {
	t.Helper()
	if from, err := tcp(t, ns, addr, dialTimeout); err == nil {
		t.Fatalf("TCP to %s got through (server saw %s)", addr, from)
	}
}

// snapshot lists what a namespace holds: links, addresses, neighbours,
// forwarding entries and nftables rules (without counters).
func snapshot(t *testing.T, ns string) string {
	t.Helper()
	var b strings.Builder
	for _, cmd := range [][]string{
		{"ip", "-o", "-d", "link"},
		{"ip", "-o", "addr"},
		{"ip", "neigh", "show"},
		{"ip", "route", "show", "table", "all"},
		{"bridge", "fdb", "show"},
		{"nft", "-s", "list", "ruleset"},
	} {
		b.WriteString("$ " + strings.Join(cmd, " ") + "\n" + sh(t, ns, cmd...))
	}
	return b.String()
}

// view lists the stable part of what a namespace holds, for comparisons
// while it is plumbed (the snapshot also holds timers, carrier states and
// link-local addresses that change by themselves): links (name, type,
// bridge, alias, MTU, admin state), IPv4 addresses, permanent neighbours,
// VXLAN forwarding entries, IPv4 routes and nftables rules.
func view(t *testing.T, ns string) string {
	t.Helper()
	h := handle(t, ns)
	ls, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	byIndex := map[int]string{}
	for _, l := range ls {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	var b strings.Builder
	for _, l := range ls {
		a := l.Attrs()
		fmt.Fprintf(&b, "link %s %s master=%s alias=%q mtu=%d up=%v\n", a.Name, l.Type(), byIndex[a.MasterIndex], a.Alias, a.MTU, a.Flags&net.FlagUp != 0)
		addrs, err := h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		for _, ad := range addrs {
			fmt.Fprintf(&b, "addr %s %s\n", a.Name, ad.IPNet)
		}
		neighs, err := h.NeighList(a.Index, netlink.FAMILY_V4)
		if err != nil {
			t.Fatal(err)
		}
		for _, nb := range neighs {
			if nb.State&netlink.NUD_PERMANENT != 0 {
				fmt.Fprintf(&b, "neigh %s %s %s\n", a.Name, nb.IP, nb.HardwareAddr)
			}
		}
		fdb, err := h.NeighList(a.Index, unix.AF_BRIDGE)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range fdb {
			if e.IP != nil && e.LinkIndex == a.Index {
				fmt.Fprintf(&b, "fdb %s %s dst %s\n", a.Name, e.HardwareAddr, e.IP)
			}
		}
	}
	b.WriteString(sh(t, ns, "ip", "-4", "route", "show", "table", "all"))
	b.WriteString(sh(t, ns, "nft", "-s", "list", "ruleset"))
	return b.String()
}

// fileExists reports whether p exists.
func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
