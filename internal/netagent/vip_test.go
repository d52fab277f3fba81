//go:build linux

package netagent_test

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/netagent"
)

// inNS runs fn on a thread in namespace ns; sockets fn makes stay there.
func inNS(t *testing.T, ns string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in ns
		h, err := netns.GetFromPath(ns)
		if err != nil {
			done <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return <-done
}

// serveName answers every connection on addr in ns with name.
func serveName(t *testing.T, ns, addr, name string) {
	t.Helper()
	var ln net.Listener
	if err := inNS(t, ns, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, name)
			c.Close()
		}
	}()
}

// ask connects from ns to addr and returns what the server says.
func ask(t *testing.T, ns, addr string) (string, error) {
	t.Helper()
	var got string
	err := inNS(t, ns, func() error {
		c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		got = string(b)
		return err
	})
	return got, err
}

// A connection to a service's VIP reaches one of its ready tasks, chosen
// at random; a task marked to stop takes no new connection from the next
// view on.
func TestVIPBalancesOverReadyTasks(t *testing.T) {
	w := newWorld(t)
	node := w.ns(t, "node")
	a := newAgent(t, w, node)
	defer a.Close()
	nets := map[string]*api.Network{"net1": appnet}
	a1, a2, client := task("a1", "a", "10.77.1.3/24"), task("a2", "a", "10.77.1.4/24"), task("cl", "b", "10.77.1.5/24")
	view := netagent.View{Networks: []*api.Network{appnet},
		Services: []*api.Service{service("a", "a", "vip", "10.77.1.2/24"), service("b", "b", "vip", "10.77.1.9/24")},
		Tasks:    []*api.Task{a1, a2, client}}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	nss := map[string]string{}
	for _, tk := range []*api.Task{a1, a2, client} {
		nss[tk.ID] = w.ns(t, tk.ID)
		if err := a.Attach(netagent.Request{Task: tk, Networks: nets, NetNS: nss[tk.ID]}); err != nil {
			t.Fatal(err)
		}
	}
	serveName(t, nss["a1"], "10.77.1.3:7000", "a1")
	serveName(t, nss["a2"], "10.77.1.4:7000", "a2")

	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		got, err := ask(t, nss["cl"], "10.77.1.2:7000")
		if err != nil {
			t.Fatalf("connection %d to the VIP: %v", i, err)
		}
		seen[got]++
	}
	if seen["a1"] == 0 || seen["a2"] == 0 || seen["a1"]+seen["a2"] != 30 {
		t.Fatalf("30 connections to the VIP reached %v, want both tasks", seen)
	}

	// a2 is marked to stop: new connections go to a1 only.
	stopping := *a2
	stopping.DesiredState = api.TaskStateShutdown
	view.Tasks = []*api.Task{a1, &stopping, client}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if got, err := ask(t, nss["cl"], "10.77.1.2:7000"); err != nil || got != "a1" {
			t.Fatalf("after a2 was marked to stop, connection %d reached %q (%v), want a1", i, got, err)
		}
	}

	// With no ready task left, a connection is refused at once.
	view.Tasks = []*api.Task{client}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(t, nss["cl"], "10.77.1.2:7000"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("with no ready task the VIP answered %q (%v), want connection refused", got, err)
	}
}
