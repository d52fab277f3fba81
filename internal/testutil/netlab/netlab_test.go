package netlab_test

import (
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/internal/testutil/netlab"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Two nodes reach each other and the host over the lab's bridge, a
// process started in a node sees the node's interfaces, and the lab's
// cleanup leaves no link or rule.
func TestNodesReachEachOtherAndNothingIsLeft(t *testing.T) {
	var bridge, veth string
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t)
		a, b := lab.AddNode("a"), lab.AddNode("b")
		bridge, veth = lab.Bridge, "nl"+strings.TrimPrefix(lab.Bridge, "nlb-")+"-0"
		var ln net.Listener
		if err := a.Do(func() (err error) {
			ln, err = net.Listen("tcp", a.Addr.String()+":0")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		served := make(chan struct{})
		defer func() { ln.Close(); <-served }()
		go func() {
			defer close(served)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("hello"))
				c.Close()
			}
		}()
		for _, from := range []*netlab.Node{b, nil} {
			dial := func() error {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return err
				}
				defer c.Close()
				got, err := io.ReadAll(c)
				if err == nil && string(got) != "hello" {
					t.Errorf("read %q", got)
				}
				return err
			}
			var err error
			if from != nil {
				err = from.Do(dial)
			} else {
				err = dial() // from the host
			}
			if err != nil {
				t.Fatalf("dial node a from %v: %v", from, err)
			}
		}
		if ls, err := b.Links(); err != nil || strings.Join(ls, " ") != "eth0 lo" {
			t.Errorf("node b's links %v, %v; want eth0 and lo", ls, err)
		}
		cmd := exec.Command("cat", "/proc/net/dev")
		var out strings.Builder
		cmd.Stdout = &out
		if err := b.Start(cmd); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		if s := out.String(); !strings.Contains(s, "eth0:") || strings.Contains(s, bridge) {
			t.Errorf("a process started in node b sees\n%s\nwant eth0 and not the host's bridge", s)
		}
		// Holders names a process left in a node, for its user to stop.
		if h := lab.Holders(); len(h) != 0 {
			t.Errorf("holders %v before any process runs in a node", h)
		}
		sleeper := exec.Command("sleep", "60")
		if err := a.Start(sleeper); err != nil {
			t.Fatal(err)
		}
		h := lab.Holders()
		_ = sleeper.Process.Kill()
		_ = sleeper.Wait()
		if !slices.Equal(h, []int{sleeper.Process.Pid}) {
			t.Errorf("holders %v; want the process started in node a, %d", h, sleeper.Process.Pid)
		}
	})
	for _, name := range []string{bridge, veth} {
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("link %s outlived the lab", name)
		}
	}
	if has, err := netlab.HasRules(bridge); err != nil || has {
		t.Errorf("accept rules of %s outlived the lab (%v)", bridge, err)
	}
}

// A node the host holds the address of for Docker is still reached on
// its address by the other nodes, and a port it maps (here to a listener
// of the host standing in for a container) answers there, from the
// other nodes and from the node itself; the cleanup removes the host's
// address and table.
func TestHostsDockerAndForwardToContainer(t *testing.T) {
	var hosted netip.Addr
	var table string
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t)
		a, b := lab.AddNode("a"), lab.AddNode("b")
		if err := lab.HostsDocker(b); err != nil {
			t.Fatal(err)
		}
		hosted, table = b.Addr, "netlab-"+strings.TrimPrefix(lab.Bridge, "nlb-")
		serve := func(ln net.Listener, say string) {
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Write([]byte(say))
					c.Close()
				}
			}()
		}
		ctr, err := net.Listen("tcp", lab.HostAddr.String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		serve(ctr, "container")
		var own net.Listener
		if err := b.Do(func() (err error) { own, err = net.Listen("tcp", b.Addr.String()+":0"); return err }); err != nil {
			t.Fatal(err)
		}
		serve(own, "node b")
		if err := b.ForwardToContainer("tcp", 5555, netip.MustParseAddrPort(ctr.Addr().String())); err != nil {
			t.Fatal(err)
		}
		ask := func(from *netlab.Node, addr string) string {
			c, err := from.Dial("tcp", addr, 2*time.Second)
			if err != nil {
				return err.Error()
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			got, _ := io.ReadAll(c)
			return string(got)
		}
		if got := ask(a, own.Addr().String()); got != "node b" {
			t.Errorf("from a, node b's own listener: %q", got)
		}
		for _, from := range []*netlab.Node{a, b} {
			if got := ask(from, net.JoinHostPort(b.Addr.String(), "5555")); got != "container" {
				t.Errorf("from %s, node b's mapped port: %q, want the container's answer", from.Name, got)
			}
		}
	})
	if addrs, _ := netlink.AddrList(nil, netlink.FAMILY_V4); slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IP.Equal(net.IP(hosted.AsSlice())) }) {
		t.Errorf("the host still holds %v", hosted)
	}
	if out, _ := exec.Command("nft", "list", "tables").Output(); strings.Contains(string(out), table) {
		t.Errorf("the host still has table %s:\n%s", table, out)
	}
}

// ForwardPorts: the host dials the node's address on a forwarded port
// and reaches its own listener on its bridge address, from the node's
// address; the node's other ports still answer the host themselves.
func TestForwardPorts(t *testing.T) {
	lab := netlab.New(t)
	a := lab.AddNode("a")
	serve := func(ln net.Listener) {
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String()))
				c.Close()
			}
		}()
	}
	engine, err := net.Listen("tcp", lab.HostAddr.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	serve(engine)
	var own net.Listener
	if err := a.Do(func() (err error) { own, err = net.Listen("tcp", a.Addr.String()+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	serve(own)
	port := uint16(engine.Addr().(*net.TCPAddr).Port)
	if err := a.ForwardPorts(lab.HostAddr, port, port); err != nil {
		t.Fatal(err)
	}
	ask := func(addr string) string {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		got, _ := io.ReadAll(c)
		return string(got)
	}
	if got := ask(net.JoinHostPort(a.Addr.String(), strconv.Itoa(int(port)))); got != a.Addr.String() {
		t.Errorf("the host, dialling node a's forwarded port: %q; want its own listener, called from %v", got, a.Addr)
	}
	if got := ask(own.Addr().String()); got != lab.HostAddr.String() {
		t.Errorf("the host, dialling node a's own listener: %q; want it called from %v", got, lab.HostAddr)
	}
}
