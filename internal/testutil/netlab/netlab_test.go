package netlab_test

import (
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"

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
