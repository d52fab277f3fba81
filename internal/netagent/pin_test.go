//go:build linux

package netagent_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/nftables"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/netagent"
)

// hasTable reports whether the namespace at ns has an ip table name.
func hasTable(t *testing.T, ns, name string) bool {
	t.Helper()
	f, err := os.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name == name {
			return true
		}
	}
	return false
}

// The namespace path a task is attached by (/proc/PID/ns/net) names
// another namespace once the task's process is gone and its PID reused:
// later virtual-IP rules still go to the task's own namespace, never to
// whatever the path names by then.
func TestVIPRulesStayInTheAttachedNamespace(t *testing.T) {
	w := newWorld(t)
	node := w.ns(t, "node")
	a := newAgent(t, w, node)
	defer a.Close()
	cl := task("cl", "b", "10.77.1.5/24")
	view := netagent.View{Networks: []*api.Network{appnet},
		Services: []*api.Service{service("a", "a", "vip", "10.77.1.2/24"), service("b", "b", "vip", "10.77.1.9/24")},
		Tasks:    []*api.Task{cl}}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	own, other := w.ns(t, "cl"), w.ns(t, "reuser")
	// A path like /proc/PID/ns/net: a symlink, turned to another
	// namespace as a reused PID would be.
	path := filepath.Join(t.TempDir(), "pidns")
	if err := os.Symlink(own, path); err != nil {
		t.Fatal(err)
	}
	if err := a.Attach(netagent.Request{Task: cl, Networks: map[string]*api.Network{"net1": appnet}, NetNS: path}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, path); err != nil {
		t.Fatal(err)
	}
	view.Tasks = []*api.Task{cl, task("a1", "a", "10.77.1.3/24")}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	if hasTable(t, other, "shoal-vip") {
		t.Fatal("the VIP rules were written into the namespace the task's path names now, not the task's")
	}
	if !hasTable(t, own, "shoal-vip") {
		t.Fatal("the task's own namespace has no VIP rules")
	}
	if err := a.Detach("cl"); err != nil {
		t.Fatal(err)
	}
}

// A task whose plumbing fails leaves no network behind that only it
// would have used.
func TestFailedAttachLeavesNoNetwork(t *testing.T) {
	w := newWorld(t)
	node := w.ns(t, "node")
	a := newAgent(t, w, node)
	defer a.Close()
	bad := task("bad", "a", "10.99.0.5/24") // not in appnet's 10.77.1.0/24
	err := a.Attach(netagent.Request{Task: bad, Networks: map[string]*api.Network{"net1": appnet}, NetNS: w.ns(t, "bad")})
	if err == nil {
		t.Fatal("a task with an address outside its network's subnet was attached")
	}
	if got := links(t, node); got != "" {
		t.Errorf("after a failed attach the node has %q, want nothing", got)
	}
}
