package state_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

func netSpec(id, name, subnet string) *api.Network {
	n := &api.Network{ID: id, Spec: api.NetworkSpec{Name: name, Driver: api.DefaultNetworkDriver}}
	if subnet != "" {
		n.Spec.IPAM = &api.IPAM{Config: []api.IPAMConfig{{Subnet: subnet}}}
	}
	return n
}

func (e *env) network(id string) *api.Network {
	e.t.Helper()
	n := e.store.Read().Network(id)
	if n == nil {
		e.t.Fatalf("network %s not found", id)
	}
	return n
}

func checkNetwork(t *testing.T, n *api.Network, subnet, gateway string, vni uint32) {
	t.Helper()
	sub, gw := n.Subnet()
	if sub != subnet || gw != gateway || n.DriverState == nil || n.DriverState.VNI != vni || n.IPAM.Driver != "default" {
		t.Fatalf("network %s: subnet %q gateway %q state %+v; want %s, %s, VNI %d", n.Spec.Name, sub, gw, n.DriverState, subnet, gateway, vni)
	}
}

// publishing is a service attached to net (if not empty) that publishes
// ports.
func publishing(id, name, net string, ports ...api.PortConfig) *api.Service {
	s := serviceUsing(id, name, "", "", net)
	if len(ports) > 0 {
		s.Spec.EndpointSpec = &api.EndpointSpec{Ports: ports}
	}
	return s
}

func taskOn(id, serviceID string, slot uint64, nets ...string) *api.Task {
	tk := newTask(id, serviceID, slot)
	for _, n := range nets {
		tk.Spec.Networks = append(tk.Spec.Networks, api.NetworkAttachment{Target: n})
	}
	return tk
}

func addrsOf(tk *api.Task) []string {
	var out []string
	for _, a := range tk.NetworksAttachments {
		out = append(out, a.Network.Name+"="+strings.Join(a.Addresses, ","))
	}
	return out
}

func TestNetworksGetSubnetGatewayAndVNIFromThePool(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createNetwork(netSpec("n1", "front", "")))
	e.must(step(1), createNetwork(netSpec("n2", "back", "")))
	checkNetwork(t, e.network("n1"), "10.0.0.0/24", "10.0.0.1", 4097)
	checkNetwork(t, e.network("n2"), "10.0.1.0/24", "10.0.1.1", 4098)

	// A given subnet and gateway are kept; one inside the pool is skipped
	// by the pool afterwards.
	n3 := netSpec("n3", "given", "10.0.2.0/24")
	n3.Spec.IPAM.Config[0].Gateway = "10.0.2.254"
	e.must(step(2), createNetwork(n3))
	checkNetwork(t, e.network("n3"), "10.0.2.0/24", "10.0.2.254", 4099)
	e.must(step(3), createNetwork(netSpec("n4", "after", "")))
	checkNetwork(t, e.network("n4"), "10.0.3.0/24", "10.0.3.1", 4100)

	// Removed: its subnet and VNI are free, but the next network does not
	// get them at once (round-robin).
	e.must(step(4), state.Op{Kind: state.OpRemoveNetwork, ID: "n1"})
	e.must(step(5), createNetwork(netSpec("n5", "next", "")))
	checkNetwork(t, e.network("n5"), "10.0.4.0/24", "10.0.4.1", 4101)
	e.must(step(6), createNetwork(netSpec("n6", "reuse", "10.0.0.0/24")))
	checkNetwork(t, e.network("n6"), "10.0.0.0/24", "10.0.0.1", 4102)
}

func TestOverlappingSubnetIsRefusedAndNothingIsWritten(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createNetwork(netSpec("n1", "wide", "10.20.0.0/16")))
	before := e.store.Index()
	res := e.refused(state.ErrOverlap, step(1), createNetwork(netSpec("n2", "inside", "10.20.5.0/24")))
	for _, want := range []string{"network inside", "subnet 10.20.5.0/24 overlaps subnet 10.20.0.0/16 of network wide"} {
		if !strings.Contains(res.Err.Error(), want) {
			t.Fatalf("error %q does not say %q", res.Err, want)
		}
	}
	// In an atomic command with another create: neither is written.
	e.refused(state.ErrOverlap, step(2), createNetwork(netSpec("n3", "fine", "")), createNetwork(netSpec("n4", "outer", "10.0.0.0/8")))
	tx := e.store.Read()
	if tx.Network("n2") != nil || tx.Network("n3") != nil || tx.Network("n4") != nil || len(tx.Networks()) != 1 {
		t.Fatalf("a refused network was written: %d networks", len(tx.Networks()))
	}
	// The refused command moved no hint: the next network gets what it
	// would have got before.
	e.must(step(3), createNetwork(netSpec("n5", "next", "")))
	checkNetwork(t, e.network("n5"), "10.0.0.0/24", "10.0.0.1", 4098)
	if e.store.Index() <= before {
		t.Fatal("index did not move")
	}
	e.refused(state.ErrInvalid, step(4), createNetwork(netSpec("n6", "bad", "10.1.2.3/24")))
	gwOnly := netSpec("n7", "gw", "")
	gwOnly.Spec.IPAM = &api.IPAM{Config: []api.IPAMConfig{{Gateway: "10.9.0.1"}}}
	e.refused(state.ErrInvalid, step(5), createNetwork(gwOnly))
}

func TestClusterPoolIsSetOnceAndUsed(t *testing.T) {
	e := newEnv(t)
	initOp := func(pool string, size uint32, explicit bool) state.Op {
		return state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{pool}, SubnetSize: size, Explicit: explicit}}
	}
	if pools, size := e.store.Read().AddrPool(); len(pools) != 1 || pools[0] != "10.0.0.0/8" || size != 24 {
		t.Fatalf("default pool %v /%d", pools, size)
	}
	e.must(step(0), initOp("192.168.0.0/16", 26, true))
	e.must(step(1), createNetwork(netSpec("n1", "a", "")))
	checkNetwork(t, e.network("n1"), "192.168.0.0/26", "192.168.0.1", 4097)
	// The same flags again, or none: fine. Other flags: refused, loudly.
	e.must(step(2), initOp("192.168.0.0/16", 26, true))
	e.must(step(3), initOp("10.0.0.0/8", 24, false))
	res := e.refused(state.ErrPoolFixed, step(4), initOp("10.0.0.0/8", 24, true))
	if !strings.Contains(res.Err.Error(), "the cluster's address pool is [192.168.0.0/16] with /26 subnets, set when it was created; it cannot be changed to [10.0.0.0/8] with /24") {
		t.Fatalf("error %q", res.Err)
	}
	e.refused(state.ErrInvalid, step(5), initOp("nonsense", 24, true))
	if pools, size := e.store.Read().AddrPool(); pools[0] != "192.168.0.0/16" || size != 26 {
		t.Fatalf("pool changed to %v /%d", pools, size)
	}
}

func TestServiceGetsVIPAndPublishedPorts(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createNetwork(netSpec("n1", "app", "")))
	svc := publishing("s1", "web", "app", api.PortConfig{TargetPort: 80}, api.PortConfig{TargetPort: 443, PublishedPort: 8443})
	e.must(step(1), createService(svc))
	got := e.service("s1").Endpoint
	if got == nil || len(got.VirtualIPs) != 1 || got.VirtualIPs[0] != (api.EndpointVirtualIP{NetworkID: "n1", Addr: "10.0.0.2/24"}) {
		t.Fatalf("endpoint %+v, want VIP 10.0.0.2/24 on n1", got)
	}
	want := []api.PortConfig{
		{Protocol: "tcp", TargetPort: 80, PublishedPort: 30000, PublishMode: "ingress"},
		{Protocol: "tcp", TargetPort: 443, PublishedPort: 8443, PublishMode: "ingress"},
	}
	if len(got.Ports) != 2 || got.Ports[0] != want[0] || got.Ports[1] != want[1] {
		t.Fatalf("ports %+v, want %+v", got.Ports, want)
	}
	// The spec stays as the user wrote it.
	if e.service("s1").Spec.EndpointSpec.Ports[0].PublishedPort != 0 {
		t.Fatal("the allocated port was written into the spec")
	}

	// An update (forced, or even one that hands in another endpoint) keeps
	// the VIP and the dynamic port.
	up := *e.service("s1")
	up.Spec.TaskTemplate.ForceUpdate++
	up.SpecVersion++
	up.Endpoint = &api.Endpoint{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 1}}}
	e.must(step(2), state.Op{Kind: state.OpUpdateService, Service: &up})
	if ep := e.service("s1").Endpoint; ep.Ports[0].PublishedPort != 30000 || ep.VirtualIPs[0].Addr != "10.0.0.2/24" {
		t.Fatalf("after update: %+v", ep)
	}

	// dnsrr: no VIP. Leaving the network frees it.
	up = *e.service("s1")
	up.Spec.EndpointSpec = &api.EndpointSpec{Mode: api.EndpointModeDNSRR, Ports: []api.PortConfig{{TargetPort: 80, PublishMode: "host"}}}
	e.must(step(3), state.Op{Kind: state.OpUpdateService, Service: &up})
	ep := e.service("s1").Endpoint
	if ep == nil || len(ep.VirtualIPs) != 0 || len(ep.Ports) != 1 || ep.Ports[0].PublishedPort != 0 {
		t.Fatalf("dnsrr with a host-mode target-only port: %+v", ep)
	}
}

func TestPublishedPortConflictsAreRefusedAtomically(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createService(publishing("s1", "stack1_web", "", api.PortConfig{TargetPort: 80, PublishedPort: 8080})))
	res := e.refused(state.ErrPortInUse, step(1),
		createService(publishing("s2", "stack2_api", "", api.PortConfig{TargetPort: 81})),
		createService(publishing("s3", "stack2_web", "", api.PortConfig{TargetPort: 80, PublishedPort: 8080})))
	if !strings.Contains(res.Err.Error(), "published port 8080/tcp is already in use by service stack1_web") {
		t.Fatalf("error %q", res.Err)
	}
	var pc *state.PortConflictError
	if !errors.As(res.Err, &pc) || pc.Service != "stack1_web" || pc.Port != "8080/tcp" {
		t.Fatalf("error %#v", res.Err)
	}
	if e.store.Read().Service("s2") != nil {
		t.Fatal("the other service of the refused command was written")
	}
	// Nothing was taken by the refused command: the next dynamic port is
	// the first one.
	e.must(step(2), createService(publishing("s4", "other", "", api.PortConfig{TargetPort: 81})))
	if p := e.service("s4").Endpoint.Ports[0].PublishedPort; p != 30000 {
		t.Fatalf("dynamic port %d, want 30000", p)
	}

	// Another protocol is another port; host mode vs host mode is the
	// scheduler's business (as in Swarm), host mode vs ingress clashes.
	e.must(step(3), createService(publishing("s5", "dns", "", api.PortConfig{TargetPort: 53, PublishedPort: 8080, Protocol: "udp"})))
	e.must(step(4), createService(publishing("s6", "h1", "", api.PortConfig{TargetPort: 80, PublishedPort: 9000, PublishMode: "host"})))
	e.must(step(5), createService(publishing("s7", "h2", "", api.PortConfig{TargetPort: 80, PublishedPort: 9000, PublishMode: "host"})))
	e.refused(state.ErrPortInUse, step(6), createService(publishing("s8", "i1", "", api.PortConfig{TargetPort: 80, PublishedPort: 9000})))
	e.refused(state.ErrPortInUse, step(7), createService(publishing("s9", "h3", "", api.PortConfig{TargetPort: 80, PublishedPort: 8080, PublishMode: "host"})))
	// An explicit port in the dynamic range is not handed out again.
	e.must(step(8), createService(publishing("s10", "explicit", "", api.PortConfig{TargetPort: 80, PublishedPort: 30001})))
	e.must(step(9), createService(publishing("s11", "dyn", "", api.PortConfig{TargetPort: 80})))
	if p := e.service("s11").Endpoint.Ports[0].PublishedPort; p != 30002 {
		t.Fatalf("dynamic port %d, want 30002 (30000 held, 30001 published explicitly)", p)
	}
	// Updating a service to take a held port is refused too; removing the
	// holder frees it.
	up := *e.service("s4")
	up.Spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 81, PublishedPort: 8080}}}
	e.refused(state.ErrPortInUse, step(10), state.Op{Kind: state.OpUpdateService, Service: &up})
	e.must(step(11), state.Op{Kind: state.OpDeleteService, ID: "s1"})
	e.must(step(12), state.Op{Kind: state.OpUpdateService, Service: &up})
}

func TestTaskAddressesAreUniqueAndReleased(t *testing.T) {
	e := newEnv(t)
	// A /29: gateway .1, and five addresses .2-.6.
	e.must(step(0), createNetwork(netSpec("n1", "tiny", "10.9.0.0/29")), createNetwork(netSpec("n2", "big", "")))
	e.must(step(1), createService(serviceUsing("s1", "web", "", "", "tiny")))
	if vip := e.service("s1").Endpoint.VirtualIPs[0].Addr; vip != "10.9.0.2/29" {
		t.Fatalf("VIP %s", vip)
	}
	e.must(step(2), createTask(taskOn("t1", "s1", 1, "tiny", "big", "n2")), createTask(taskOn("t2", "s1", 2, "tiny")))
	if got := addrsOf(e.task("t1")); strings.Join(got, " ") != "tiny=10.9.0.3/29 big=10.0.0.2/24" {
		t.Fatalf("t1 attachments %v", got)
	}
	if a := e.task("t1").NetworksAttachments[0]; a.Network.ID != "n1" {
		t.Fatalf("attachment network %+v", a.Network)
	}
	e.must(step(3), createTask(taskOn("t3", "s1", 3, "tiny")), createTask(taskOn("t4", "s1", 4, "tiny")))
	// The subnet is full: the next task is rejected, saying why, and holds
	// no address on the other network either.
	e.must(step(4), createTask(taskOn("t5", "s1", 5, "big", "tiny")))
	t5 := e.task("t5")
	if t5.Status.State != api.TaskStateRejected || t5.Status.Err != "network tiny has no free addresses: subnet 10.9.0.0/29 is full" || len(t5.NetworksAttachments) != 0 {
		t.Fatalf("t5: %s %q %v", t5.Status.State, t5.Status.Err, t5.NetworksAttachments)
	}
	seen := map[string]string{}
	for _, tk := range e.store.Read().Tasks() {
		for _, a := range addrsOf(tk) {
			if other, dup := seen[a]; dup {
				t.Fatalf("%s held by %s and %s", a, other, tk.ID)
			}
			seen[a] = tk.ID
		}
	}
	// A task that ended frees its address (and keeps showing it); a
	// deleted one too.
	e.must(step(5), report("t2", api.TaskStateFailed, "exit 1"))
	if got := addrsOf(e.task("t2")); len(got) != 1 {
		t.Fatalf("ended task lost its attachments: %v", got)
	}
	e.must(step(6), createTask(taskOn("t6", "s1", 6, "tiny")))
	if got := addrsOf(e.task("t6")); got[0] != "tiny=10.9.0.4/29" {
		t.Fatalf("t6 got %v, want the address t2 freed", got)
	}
	e.must(step(7), state.Op{Kind: state.OpDeleteTask, ID: "t3"})
	e.must(step(8), createTask(taskOn("t7", "s1", 7, "tiny")))
	if got := addrsOf(e.task("t7")); got[0] != "tiny=10.9.0.5/29" {
		t.Fatalf("t7 got %v, want the address deleted t3 freed", got)
	}
	// Removing the service frees its VIP.
	e.must(step(9), state.Op{Kind: state.OpDeleteService, ID: "s1"})
	e.must(step(10), createTask(taskOn("t8", "s1", 8, "tiny")))
	if got := addrsOf(e.task("t8")); got[0] != "tiny=10.9.0.2/29" {
		t.Fatalf("t8 got %v, want the freed VIP", got)
	}
}

func TestAllocationsSurviveSnapshotAndRestore(t *testing.T) {
	src := state.NewFSM(state.NewStore())
	cmds := []*state.Command{
		{Time: step(0), Atomic: true, Ops: []state.Op{{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"172.30.0.0/16"}, SubnetSize: 24}}}},
		{Time: step(1), Atomic: true, Ops: []state.Op{createNetwork(netSpec("n1", "app", "")), createNetwork(netSpec("n2", "db", ""))}},
		{Time: step(2), Atomic: true, Ops: []state.Op{createService(publishing("s1", "web", "app", api.PortConfig{TargetPort: 80}))}},
		{Time: step(3), Ops: []state.Op{createTask(taskOn("t1", "s1", 1, "app")), createTask(taskOn("t2", "s1", 2, "app"))}},
		{Time: step(4), Atomic: true, Ops: []state.Op{{Kind: state.OpRemoveNetwork, ID: "n2"}}},
	}
	for i, c := range cmds {
		if res := applyLog(t, src, uint64(i+1), c); res.Err != nil || res.OpErrs != nil {
			t.Fatalf("apply %d: %v %v", i, res.Err, res.OpErrs)
		}
	}
	dst := restoredCopy(t, src)
	for _, tk := range []string{"t1", "t2"} {
		a, b := src.Store().Read().Task(tk), dst.Store().Read().Task(tk)
		if strings.Join(addrsOf(a), " ") != strings.Join(addrsOf(b), " ") || len(addrsOf(b)) != 1 {
			t.Fatalf("task %s: %v before, %v after restore", tk, addrsOf(a), addrsOf(b))
		}
	}
	if !api.SameJSON(src.Store().Read().Service("s1").Endpoint, dst.Store().Read().Service("s1").Endpoint) {
		t.Fatal("service endpoint changed across restore")
	}
	// Both replicas allocate the same next values: the restored one knows
	// the pool, the hints and what is held.
	next := []*state.Command{
		{Time: step(5), Atomic: true, Ops: []state.Op{createNetwork(netSpec("n3", "next", ""))}},
		{Time: step(6), Atomic: true, Ops: []state.Op{createService(publishing("s2", "api", "app", api.PortConfig{TargetPort: 81}))}},
		{Time: step(7), Ops: []state.Op{createTask(taskOn("t3", "s2", 1, "app", "next"))}},
		// Conflicts are still seen after the restore.
		{Time: step(8), Atomic: true, Ops: []state.Op{createService(publishing("s3", "dup", "", api.PortConfig{TargetPort: 80, PublishedPort: 30000}))}},
	}
	for i, c := range next {
		r1, r2 := applyLog(t, src, uint64(10+i), c), applyLog(t, dst, uint64(10+i), c)
		if (r1.Err == nil) != (r2.Err == nil) {
			t.Fatalf("command %d: %v on the source, %v on the restored replica", i, r1.Err, r2.Err)
		}
	}
	if res := applyLog(t, dst, 20, next[3]); !errors.Is(res.Err, state.ErrPortInUse) {
		t.Fatalf("port conflict after restore: %v", res.Err)
	}
	a, b := src.Store().Read(), dst.Store().Read()
	if !api.SameJSON(a.Network("n3"), b.Network("n3")) || !api.SameJSON(a.Service("s2").Endpoint, b.Service("s2").Endpoint) ||
		!api.SameJSON(a.Task("t3").NetworksAttachments, b.Task("t3").NetworksAttachments) {
		t.Fatalf("replicas diverged:\n%+v %+v\n%+v %+v", a.Network("n3").IPAM, b.Network("n3").IPAM, a.Task("t3").NetworksAttachments, b.Task("t3").NetworksAttachments)
	}
	checkNetwork(t, b.Network("n3"), "172.30.2.0/24", "172.30.2.1", 4099)
	if got := addrsOf(b.Task("t3")); strings.Join(got, " ") != "app=172.30.0.6/24 next=172.30.2.2/24" {
		t.Fatalf("t3 after restore: %v", got)
	}
}

func TestNetworkOfARunningTaskCannotBeRemoved(t *testing.T) {
	e := newEnv(t)
	e.must(step(0), createNetwork(netSpec("n1", "app", "")))
	e.must(step(1), createService(serviceUsing("s1", "web", "", "", "app")))
	e.must(step(2), createTask(taskOn("t1", "s1", 1, "app")))
	// The service leaves the network; its task of the old spec still runs
	// on it.
	up := *e.service("s1")
	up.Spec.TaskTemplate.Networks = nil
	up.SpecVersion++
	e.must(step(3), state.Op{Kind: state.OpUpdateService, Service: &up})
	if ep := e.service("s1").Endpoint; ep != nil {
		t.Fatalf("the service left the network but kept %+v", ep)
	}
	res := e.refused(state.ErrInUse, step(4), state.Op{Kind: state.OpRemoveNetwork, ID: "n1"})
	if !strings.Contains(res.Err.Error(), `network "app" is in use by task svc-s1.1`) {
		t.Fatalf("error %q", res.Err)
	}
	// Once the task ended (or its service is gone), the network goes.
	e.must(step(5), report("t1", api.TaskStateShutdown, "stopped"))
	e.must(step(6), state.Op{Kind: state.OpRemoveNetwork, ID: "n1"})
}

// restoredCopy returns a replica restored from a snapshot of src.
func restoredCopy(t interface{ Fatal(...any) }, src *state.FSM) *state.FSM {
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	dst := state.NewFSM(state.NewStore())
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestServiceStoredBeforeAllocationKeepsWorking: two services stored by
// an older version publish the same port (the store allowed it then). A
// write that leaves their ports alone (a controller's) still applies; a
// spec change that keeps the clash is refused.
func TestServiceStoredBeforeAllocationKeepsWorking(t *testing.T) {
	s1 := publishing("s1", "old1", "", api.PortConfig{TargetPort: 80, PublishedPort: 8080})
	s1.Endpoint = &api.Endpoint{Ports: []api.PortConfig{{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"}}}
	s2 := publishing("s2", "old2", "", api.PortConfig{TargetPort: 80, PublishedPort: 8080})
	legacy, err := json.Marshal(map[string]any{"index": 5, "services": []*api.Service{s1, s2}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	if err := state.NewFSM(e.store).Restore(io.NopCloser(bytes.NewReader(legacy))); err != nil {
		t.Fatal(err)
	}
	up := *e.service("s2")
	up.UpdateStatus = &api.UpdateStatus{State: api.UpdateStateCompleted}
	e.must(step(1), state.Op{Kind: state.OpUpdateService, Service: &up})
	if got := e.service("s2"); got.UpdateStatus == nil || got.Endpoint != nil {
		t.Fatalf("status write: %+v, endpoint %+v", got.UpdateStatus, got.Endpoint)
	}
	up = *e.service("s2")
	up.SpecVersion++
	up.Spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 81, PublishedPort: 8080}}}
	e.refused(state.ErrPortInUse, step(2), state.Op{Kind: state.OpUpdateService, Service: &up})
}
