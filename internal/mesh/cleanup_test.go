package mesh

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestDetachAndRemoveNetworkLeaveNothing(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	before := snapshot(t, n.ns)
	ensure(t, n, netA, netI)
	if err := n.SetPeers(netA.ID, peers("192.168.50.2", "10.10.1.9")); err != nil {
		t.Fatal(err)
	}
	t1 := attach(t, n, "t1", ep(netA, "10.10.1.2"), ep(netI, "10.10.3.2"))
	t2 := attach(t, n, "t2", ep(netA, "10.10.1.3"))
	serve(t, t1, "10.10.1.2:7000")
	mustTalk(t, t2, "10.10.1.2:7000")
	if during := snapshot(t, n.ns); during == before {
		t.Fatal("the snapshot did not change while plumbed; it sees nothing")
	}

	if err := n.Detach("t1"); err != nil {
		t.Fatal(err)
	}
	// The task's namespace is left with lo only.
	ls, err := handle(t, t1).LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Attrs().Name != "lo" {
		t.Errorf("links left in the task's namespace: %v", names(ls))
	}
	// t2 is still attached: removing the network takes its interface too.
	for _, id := range []string{netA.ID, netI.ID} {
		if err := n.RemoveNetwork(id); err != nil {
			t.Fatal(err)
		}
	}
	if after := snapshot(t, n.ns); after != before {
		t.Errorf("the node's namespace differs after Detach and RemoveNetwork\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Again: nothing to do is not an error.
	if err := n.RemoveNetwork(netA.ID); err != nil {
		t.Errorf("RemoveNetwork of a removed network: %v", err)
	}
	if err := n.Detach("t1"); err != nil {
		t.Errorf("Detach of a detached task: %v", err)
	}
}

// removeLeaves removes network id and checks that list shows the node as
// want.
func removeLeaves(t *testing.T, n *node, id string, list func(*testing.T, string) string, want string) {
	t.Helper()
	if err := n.RemoveNetwork(id); err != nil {
		t.Fatal(err)
	}
	if got := list(t, n.ns); got != want {
		t.Errorf("after RemoveNetwork(%s):\n%s\nwant:\n%s", id, got, want)
	}
}

// iptablesS lists iptables' rules in namespace ns.
func iptablesS(t *testing.T, ns string) string {
	t.Helper()
	return sh(t, ns, "iptables", "-S")
}

func names(ls []netlink.Link) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Attrs().Name)
	}
	return out
}

func TestDockerIPTablesStillReadsItsTable(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	before := iptablesS(t, n.ns)
	ensure(t, n, netA)
	ensure(t, n, netA) // idempotent: the rules are not doubled
	got := sh(t, n.ns, "iptables", "-S", "DOCKER-USER")
	want := "-N DOCKER-USER\n" +
		"-A DOCKER-USER -i shbr-4097 -m comment --comment \"shoal net=neta\" -j ACCEPT\n" +
		"-A DOCKER-USER -o shbr-4097 -m comment --comment \"shoal net=neta\" -j ACCEPT\n" +
		"-A DOCKER-USER -j RETURN\n"
	if got != want {
		t.Errorf("iptables -S DOCKER-USER =\n%s\nwant\n%s", got, want)
	}
	// Docker's own changes still work beside ours.
	sh(t, n.ns, "iptables", "-I", "DOCKER-USER", "-i", "docker9", "-j", "ACCEPT")
	sh(t, n.ns, "iptables", "-D", "DOCKER-USER", "-i", "docker9", "-j", "ACCEPT")
	removeLeaves(t, n, netA.ID, iptablesS, before)
}

func TestHostsWithoutDockerUserOrWithoutIPTables(t *testing.T) {
	n := newBareNode(t, "192.168.50.1", 0)
	before := snapshot(t, n.ns)
	// No iptables table at all: none is made, tasks talk.
	ensure(t, n, netA)
	t1 := attach(t, n, "t1", ep(netA, "10.10.1.2"))
	t2 := attach(t, n, "t2", ep(netA, "10.10.1.3"))
	serve(t, t1, "10.10.1.2:7000")
	mustTalk(t, t2, "10.10.1.2:7000")
	if got := sh(t, n.ns, "nft", "list", "tables"); got != "table inet shoal\n" {
		t.Errorf("nft list tables = %q, want only inet shoal", got)
	}
	removeLeaves(t, n, netA.ID, snapshot, before)

	// FORWARD drops and there is no DOCKER-USER: the accept rules go to
	// FORWARD.
	sh(t, n.ns, "iptables", "-P", "FORWARD", "DROP")
	ensure(t, n, netA)
	if err := n.Attach("t1", t1, []Endpoint{ep(netA, "10.10.1.2")}); err != nil {
		t.Fatal(err)
	}
	if err := n.Attach("t2", t2, []Endpoint{ep(netA, "10.10.1.3")}); err != nil {
		t.Fatal(err)
	}
	mustTalk(t, t2, "10.10.1.2:7000")
	if got := sh(t, n.ns, "iptables", "-S", "FORWARD"); !strings.Contains(got, "-A FORWARD -i shbr-4097") {
		t.Errorf("iptables -S FORWARD = %q, want our accept rules", got)
	}
	// Docker starts and makes DOCKER-USER: the next EnsureNetwork moves
	// the rules there, and none stay in FORWARD.
	sh(t, n.ns, "iptables", "-N", "DOCKER-USER")
	sh(t, n.ns, "iptables", "-A", "DOCKER-USER", "-j", "RETURN")
	sh(t, n.ns, "iptables", "-I", "FORWARD", "-j", "DOCKER-USER")
	var withDocker string // Docker's rules without ours
	for _, line := range strings.SplitAfter(iptablesS(t, n.ns), "\n") {
		if !strings.Contains(line, "shoal net=") {
			withDocker += line
		}
	}
	ensure(t, n, netA)
	if got := sh(t, n.ns, "iptables", "-S", "FORWARD"); strings.Contains(got, "shbr-") {
		t.Errorf("rules left in FORWARD: %q", got)
	}
	if got := sh(t, n.ns, "iptables", "-S", "DOCKER-USER"); !strings.Contains(got, "-A DOCKER-USER -i shbr-4097") {
		t.Errorf("iptables -S DOCKER-USER = %q, want our accept rules", got)
	}
	mustTalk(t, t2, "10.10.1.2:7000")
	removeLeaves(t, n, netA.ID, iptablesS, withDocker)
}

func TestNetworkMadeAgainWithAnotherVNIReplacesTheOld(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	before := snapshot(t, n.ns)
	ensure(t, n, netA)
	again := netA
	again.VNI = 5000
	ensure(t, n, again)
	obs, err := n.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Networks) != 1 || obs.Networks[0] != again {
		t.Errorf("networks %+v, want only %+v", obs.Networks, again)
	}
	removeLeaves(t, n, netA.ID, snapshot, before)
}

func TestSyncAdoptsAfterRestartAndRemovesLeftovers(t *testing.T) {
	first := newNode(t, "192.168.50.1", 0)
	before := snapshot(t, first.ns)
	ensure(t, first, netA, netB)
	t1 := attach(t, first, "t1", ep(netA, "10.10.1.2"))
	t2 := attach(t, first, "t2", ep(netA, "10.10.1.3"))
	attach(t, first, "t3", ep(netB, "10.10.2.2"))
	first.task(t, "t4") // a namespace never attached
	serve(t, t1, "10.10.1.2:7000")

	// The agent restarts: a new Node, with no memory of the first.
	first.Close()
	nd, err := New(first.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.Close() })
	n := &node{ns: first.ns, Node: nd}
	obs, err := n.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(obs.Networks, []Network{netA, netB}) {
		t.Errorf("observed networks %+v, want %+v", obs.Networks, []Network{netA, netB})
	}
	wantTasks := map[string][]string{"t1": {"neta"}, "t2": {"neta"}, "t3": {"netb"}}
	if !reflect.DeepEqual(obs.Tasks, wantTasks) {
		t.Errorf("observed tasks %v, want %v", obs.Tasks, wantTasks)
	}
	if !reflect.DeepEqual(obs.Namespaces, []string{"t1", "t2", "t3", "t4"}) {
		t.Errorf("observed namespaces %v, want t1…t4", obs.Namespaces)
	}

	// Only netA, t1 and t2 are still wanted; t2's interface was lost
	// (say, half made when the agent died).
	h := handle(t, n.ns)
	l, err := h.LinkByName(vethName("t2", netA.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkDel(l); err != nil {
		t.Fatal(err)
	}
	desired := State{
		Networks: []Network{netA},
		Peers:    map[string][]RemoteEndpoint{netA.ID: peers("192.168.50.2", "10.10.1.9")},
		Tasks: []Task{
			{ID: "t1", NetNS: t1, Endpoints: []Endpoint{ep(netA, "10.10.1.2")}},
			{ID: "t2", NetNS: t2, Endpoints: []Endpoint{ep(netA, "10.10.1.3")}},
		},
	}
	for range 2 { // re-runnable
		if err := n.Sync(desired); err != nil {
			t.Fatal(err)
		}
	}
	obs, err = n.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(obs, Observed{
		Networks:   []Network{netA},
		Tasks:      map[string][]string{"t1": {"neta"}, "t2": {"neta"}},
		Namespaces: []string{"t1", "t2"},
	}) {
		t.Errorf("after Sync observed %+v", obs)
	}
	mustTalk(t, t2, "10.10.1.2:7000")
	if fileExists(filepath.Join(n.cfg.NamespaceDir, "t3")) {
		t.Error("t3's namespace file is still there")
	}
	if got := sh(t, n.ns, "ip", "neigh", "show", "dev", vxlanName(netA.VNI)); !strings.Contains(got, "10.10.1.9") {
		t.Errorf("peer not programmed: %q", got)
	}

	// Nothing wanted: nothing left.
	if err := n.Sync(State{}); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, n.ns); after != before {
		t.Errorf("the node's namespace differs after Sync(State{})\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if ents, _ := os.ReadDir(n.cfg.NamespaceDir); len(ents) != 0 {
		t.Errorf("namespace files left: %v", ents)
	}
}

func TestDeletedNamespaceIsUnmountedInCopiedMountNamespaces(t *testing.T) {
	n := newNode(t, "192.168.50.1", 0)
	p := n.task(t, "t1")
	// A process in a mount namespace of its own, copied from ours (as a
	// process task's will be, for its resolv.conf), holds a copy of the
	// namespace file's mount. Unmounting ours does not reach it (our
	// mounts need not propagate); removing the file detaches every copy.
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "--", "sh", "-c", "echo ready; exec sleep 60")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// The shell runs once unshare has made the mount namespace.
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("unshare: %q, %v", line, err)
	}
	mounted := func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(string(b), " "+p+" ")
	}
	if !mounted() {
		t.Fatalf("the copied mount namespace does not hold %s", p)
	}
	if err := n.DeleteNamespace("t1"); err != nil {
		t.Fatal(err)
	}
	if mounted() {
		t.Errorf("%s is still mounted in the copied mount namespace: the network namespace stays alive", p)
	}
}
