//go:build linux

package netagent_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/mesh"
	"github.com/shoalproject/shoal/internal/mesh/resolver"
	"github.com/shoalproject/shoal/internal/netagent"
	"github.com/shoalproject/shoal/internal/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// world makes network namespaces for a test: one for the node, one per
// task, with a mesh.Node of the host's used only for NewNamespace.
type world struct {
	maker *mesh.Node
	dir   string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	testutil.RequireRoot(t)
	dir := filepath.Join(t.TempDir(), "ns")
	maker, err := mesh.New(mesh.Config{VTEP: netip.MustParseAddr("192.0.2.1"), NamespaceDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{maker: maker, dir: dir}
	t.Cleanup(func() { maker.Close() })
	return w
}

func (w *world) ns(t *testing.T, name string) string {
	t.Helper()
	p, err := w.maker.NewNamespace(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.maker.DeleteNamespace(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return p
}

// newAgent makes an Agent plumbing the node namespace nodeNS, with no
// upstream resolvers and the search domain example.org.
func newAgent(t *testing.T, w *world, nodeNS string) *netagent.Agent {
	t.Helper()
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(rc, []byte("search example.org\nnameserver 192.0.2.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := netagent.New(netagent.Config{
		Mesh:     mesh.Config{NetNS: nodeNS, VTEP: netip.MustParseAddr("192.0.2.1"), NamespaceDir: filepath.Join(t.TempDir(), "tasks")},
		Resolver: resolver.Config{ResolvConf: rc, Upstreams: []string{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var appnet = &api.Network{ID: "net1", Spec: api.NetworkSpec{Name: "st_appnet"},
	IPAM:        &api.IPAM{Config: []api.IPAMConfig{{Subnet: "10.77.1.0/24", Gateway: "10.77.1.1"}}},
	DriverState: &api.NetworkDriverState{Name: "overlay", VNI: 4200}}

func service(id, name, mode string, vip string) *api.Service {
	s := &api.Service{ID: id}
	s.Spec.Name = "st_" + name
	s.Spec.Labels = map[string]string{api.StackNamespaceLabel: "st"}
	s.Spec.EndpointSpec = &api.EndpointSpec{Mode: mode}
	s.Spec.TaskTemplate.Networks = []api.NetworkAttachment{{Target: "st_appnet", Aliases: []string{name, name + "-alias"}}}
	if vip != "" {
		s.Endpoint = &api.Endpoint{VirtualIPs: []api.EndpointVirtualIP{{NetworkID: "net1", Addr: vip}}}
	}
	return s
}

func task(id, svc, addr string) *api.Task {
	return &api.Task{ID: id, ServiceID: svc, ServiceName: "st_" + svc, Slot: 1, DesiredState: api.TaskStateRunning,
		Status:              api.TaskStatus{State: api.TaskStateRunning},
		NetworksAttachments: []api.NetworkAttachmentStatus{{Network: api.NetworkRef{ID: "net1", Name: "st_appnet"}, Addresses: []string{addr}}}}
}

// lookup asks 127.0.0.11:53 in namespace ns for name's A records, over
// proto.
func lookup(t *testing.T, ns, proto, name string) ([]string, error) {
	t.Helper()
	type result struct {
		addrs []string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies in ns
		h, err := netns.GetFromPath(ns)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- result{nil, err}
			return
		}
		c := &dns.Client{Net: proto, Timeout: 3 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		in, _, err := c.Exchange(m, "127.0.0.11:53")
		if err != nil {
			done <- result{nil, err}
			return
		}
		var out []string
		for _, rr := range in.Answer {
			if a, ok := rr.(*dns.A); ok {
				out = append(out, a.A.String())
			}
		}
		slices.Sort(out)
		done <- result{out, nil}
	}()
	r := <-done
	return r.addrs, r.err
}

func mustResolve(t *testing.T, ns, name string, want ...string) {
	t.Helper()
	for _, proto := range []string{"udp", "tcp"} {
		got, err := lookup(t, ns, proto, name)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s lookup of %s = %v, %v; want %v", proto, name, got, err, want)
		}
	}
}

// handleIn returns a netlink handle in the namespace at ns, for the
// caller to close.
func handleIn(t *testing.T, ns string) *netlink.Handle {
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
	return nl
}

func links(t *testing.T, ns string) string {
	t.Helper()
	nl := handleIn(t, ns)
	defer nl.Close()
	ls, err := nl.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		if n := l.Attrs().Name; strings.HasPrefix(n, "sh") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

func TestTasksResolveEachOtherAndNothingIsLeft(t *testing.T) {
	w := newWorld(t)
	node := w.ns(t, "node")
	a := newAgent(t, w, node)
	nets := map[string]*api.Network{"net1": appnet}
	ta, tb := task("ta", "a", "10.77.1.3/24"), task("tb", "b", "10.77.1.4/24")
	view := netagent.View{Networks: []*api.Network{appnet},
		Services: []*api.Service{service("a", "a", "dnsrr", ""), service("b", "b", "vip", "10.77.1.2/24")},
		Tasks:    []*api.Task{ta, tb}}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}

	sb, err := a.Sandbox(ta, nets)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Isolated || sb.DNS.Nameservers[0].String() != "127.0.0.11" || !slices.Equal(sb.DNS.Search, []string{"example.org"}) || !slices.Equal(sb.DNS.Options, []string{"ndots:0"}) {
		t.Errorf("sandbox %+v, want resolv.conf at 127.0.0.11, search example.org, ndots:0, not isolated", sb)
	}
	nsA, nsB := w.ns(t, "ta"), w.ns(t, "tb")
	for _, r := range []netagent.Request{{Task: ta, Networks: nets, NetNS: nsA}, {Task: tb, Networks: nets, NetNS: nsB}} {
		if err := a.Attach(r); err != nil {
			t.Fatal(err)
		}
	}
	mustResolve(t, nsB, "a", "10.77.1.3")
	mustResolve(t, nsB, "st_a", "10.77.1.3")
	mustResolve(t, nsB, "a-alias", "10.77.1.3")
	mustResolve(t, nsA, "b", "10.77.1.2")
	mustResolve(t, nsA, "tasks.b", "10.77.1.4")

	// A task marked to stop leaves the answers at once.
	stopping := *ta
	stopping.DesiredState = api.TaskStateShutdown
	view.Tasks = []*api.Task{&stopping, tb}
	if err := a.SetView(view); err != nil {
		t.Fatal(err)
	}
	mustResolve(t, nsB, "tasks.a")

	// An agent restart: a new Agent adopts tb (its DNS answers again)
	// and prunes ta, which the cluster no longer runs here.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a2 := newAgent(t, w, node)
	defer a2.Close()
	if err := a2.SetView(view); err != nil {
		t.Fatal(err)
	}
	if err := a2.Attach(netagent.Request{Task: tb, Networks: nets, NetNS: nsB}); err != nil {
		t.Fatal(err)
	}
	if err := a2.Prune(func(id string) bool { return id == "tb" }); err != nil {
		t.Fatal(err)
	}
	mustResolve(t, nsB, "b", "10.77.1.2")
	if got := links(t, node); len(strings.Fields(got)) != 3 || !strings.Contains(got, "shbr-4200 shv") || !strings.Contains(got, "shvx-4200") {
		t.Errorf("after the restart the node has %q, want tb's veth and the network's bridge", got)
	}

	if err := a2.Detach("tb"); err != nil {
		t.Fatal(err)
	}
	if got := links(t, node); got != "" {
		t.Errorf("after the last task left the node still has %q", got)
	}
}

// A task on internal networks only gets no network of its runtime's own.
func TestTaskOnInternalNetworksOnlyIsIsolated(t *testing.T) {
	internal := *appnet
	internal.Spec.Internal = true
	a := &netagent.Agent{}
	sb, err := a.Sandbox(task("ta", "a", "10.77.1.3/24"), map[string]*api.Network{"net1": &internal})
	if err != nil || !sb.Isolated {
		t.Fatalf("sandbox %+v, %v: want isolated", sb, err)
	}
	if _, err := a.Sandbox(task("ta", "a", "10.77.1.3/24"), nil); err == nil || !strings.Contains(err.Error(), "st_appnet") {
		t.Errorf("unknown network: %v, want an error naming st_appnet", err)
	}
}
