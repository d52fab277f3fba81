package state_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"pgregory.net/rapid"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

var (
	allocNetIDs  = []string{"n1", "n2", "n3", "n4"}
	allocSubnets = []string{"", "", "10.0.0.0/27", "10.0.0.16/29", "10.9.0.0/28", "10.9.0.0/29"}
	allocPorts   = []api.PortConfig{
		{TargetPort: 80},
		{TargetPort: 81, Protocol: "udp"},
		{TargetPort: 80, PublishedPort: 8080},
		{TargetPort: 80, PublishedPort: 8080, PublishMode: "host"},
		{TargetPort: 80, PublishedPort: 30001},
		{TargetPort: 80, PublishMode: "host"},
	}
)

// TestPropertyAllocationsNeverClash applies random network, service and
// task writes to a store with a tiny pool (/29 subnets of a /27, so that
// subnets and addresses run out): after every write no address is held
// twice on a network, every address is a host address of its network's
// subnet, no two subnets overlap, VNIs are unique, no two services clash
// on a published port, and a restored snapshot holds the same.
func TestPropertyAllocationsNeverClash(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		store := state.NewStore()
		p := &state.LocalProposer{Store: store}
		propose := func(atomic bool, ops ...state.Op) state.Result {
			res, err := p.Propose(context.Background(), &state.Command{Time: t0, Atomic: atomic, Ops: ops})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		propose(true, state.Op{Kind: state.OpInitCluster, Pool: &state.PoolInit{DefaultAddrPool: []string{"10.0.0.0/27"}, SubnetSize: 29}})
		tasks, serial := 0, 0
		for i := rapid.IntRange(1, 60).Draw(t, "steps"); i > 0; i-- {
			sid := rapid.SampledFrom(propServiceIDs).Draw(t, "service")
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0:
				// IDs are never reused, as in a cluster; names are.
				serial++
				name := "net-" + rapid.SampledFrom(allocNetIDs).Draw(t, "net")
				propose(true, createNetwork(netSpec(fmt.Sprintf("%s.%d", name, serial), name, rapid.SampledFrom(allocSubnets).Draw(t, "subnet"))))
			case 1:
				if n := store.Read().NetworkByName("net-" + rapid.SampledFrom(allocNetIDs).Draw(t, "net")); n != nil {
					propose(true, state.Op{Kind: state.OpRemoveNetwork, ID: n.ID})
				}
			case 2, 3:
				serial++
				svc := newService(fmt.Sprintf("%s.%d", sid, serial), "svc-"+sid)
				if cur := store.Read().ServiceByName("svc-" + sid); cur != nil {
					c := *cur
					svc = &c
				}
				svc.Spec.TaskTemplate.Networks = nil
				for _, n := range rapid.SliceOfNDistinct(rapid.SampledFrom(allocNetIDs), 0, 2, rapid.ID[string]).Draw(t, "nets") {
					svc.Spec.TaskTemplate.Networks = append(svc.Spec.TaskTemplate.Networks, api.NetworkAttachment{Target: "net-" + n})
				}
				svc.Spec.EndpointSpec = &api.EndpointSpec{}
				if rapid.IntRange(0, 3).Draw(t, "dnsrr") == 0 {
					svc.Spec.EndpointSpec.Mode = api.EndpointModeDNSRR
				}
				for _, k := range rapid.SliceOfNDistinct(rapid.IntRange(0, len(allocPorts)-1), 0, 2, rapid.ID[int]).Draw(t, "ports") {
					svc.Spec.EndpointSpec.Ports = append(svc.Spec.EndpointSpec.Ports, allocPorts[k])
				}
				kind := state.OpCreateService
				if store.Read().Service(svc.ID) != nil {
					kind = state.OpUpdateService
					svc.SpecVersion++
				}
				propose(true, state.Op{Kind: state.OpCheckRefs, Service: svc}, state.Op{Kind: kind, Service: svc})
			case 4:
				if svc := store.Read().ServiceByName("svc-" + sid); svc != nil {
					propose(true, state.Op{Kind: state.OpDeleteService, ID: svc.ID})
				}
			case 5, 8, 9:
				svc := store.Read().ServiceByName("svc-" + sid)
				if svc == nil {
					continue
				}
				var ops []state.Op
				for k := rapid.IntRange(1, 4).Draw(t, "tasks"); k > 0; k-- {
					tasks++
					tk := newTask(fmt.Sprintf("t%d", tasks), svc.ID, uint64(tasks))
					tk.SpecVersion = svc.SpecVersion
					tk.Spec = svc.Spec.TaskTemplate
					ops = append(ops, createTask(tk))
				}
				propose(false, ops...)
			case 6, 7:
				all := store.Read().Tasks()
				if len(all) == 0 {
					continue
				}
				tk := rapid.SampledFrom(all).Draw(t, "task")
				if rapid.Bool().Draw(t, "delete") {
					propose(false, state.Op{Kind: state.OpDeleteTask, ID: tk.ID})
				} else {
					propose(false, report(tk.ID, api.TaskStateFailed, "ended"))
				}
			}
			checkAllocations(t, store.Read())
		}
		// A replica restored from a snapshot holds the same.
		checkAllocations(t, restoredCopy(t, state.NewFSM(store)).Store().Read())
	})
}

// checkAllocations checks the allocation invariants of a store.
func checkAllocations(t *rapid.T, tx *state.ReadTx) {
	subnets := map[string]netip.Prefix{}
	vnis := map[uint32]string{}
	held := map[string]string{}
	hold := func(netID, cidr, who string) {
		subnet, ok := subnets[netID]
		if !ok {
			t.Fatalf("%s holds %s on network %s, which does not exist", who, cidr, netID)
		}
		a := netip.MustParsePrefix(cidr)
		last := netip.PrefixFrom(subnet.Addr(), subnet.Bits())
		if a.Bits() != subnet.Bits() || !subnet.Contains(a.Addr()) || a.Addr() == last.Addr() || isBroadcast(a.Addr(), subnet) {
			t.Fatalf("%s holds %s, not a host address of %s", who, cidr, subnet)
		}
		key := netID + "/" + a.Addr().String()
		if other, dup := held[key]; dup {
			t.Fatalf("%s is held by %s and %s", key, other, who)
		}
		held[key] = who
	}
	for _, n := range tx.Networks() {
		sub, gw := n.Subnet()
		p := netip.MustParsePrefix(sub)
		for id, o := range subnets {
			if o.Overlaps(p) {
				t.Fatalf("networks %s (%s) and %s (%s) overlap", id, o, n.ID, p)
			}
		}
		subnets[n.ID] = p
		if n.DriverState == nil || n.DriverState.VNI < 4097 {
			t.Fatalf("network %s: driver state %+v", n.ID, n.DriverState)
		}
		if other, dup := vnis[n.DriverState.VNI]; dup {
			t.Fatalf("VNI %d of networks %s and %s", n.DriverState.VNI, other, n.ID)
		}
		vnis[n.DriverState.VNI] = n.ID
		hold(n.ID, gw+"/"+fmt.Sprint(p.Bits()), "the gateway of "+n.ID)
	}
	svcs := tx.Services()
	for _, s := range svcs {
		if s.Endpoint == nil {
			continue
		}
		for _, v := range s.Endpoint.VirtualIPs {
			hold(v.NetworkID, v.Addr, "service "+s.ID)
		}
		for _, p := range s.Endpoint.Ports {
			if p.PublishedPort == 0 && p.Mode() == api.PublishModeIngress {
				t.Fatalf("service %s: ingress port %d has no published port", s.ID, p.TargetPort)
			}
			for _, o := range svcs {
				if o.ID == s.ID || o.Endpoint == nil {
					continue
				}
				for _, q := range o.Endpoint.Ports {
					if api.PortsClash(p, q) {
						t.Fatalf("services %s and %s both publish %d/%s", s.ID, o.ID, p.PublishedPort, p.Proto())
					}
				}
			}
		}
	}
	for _, tk := range tx.Tasks() {
		if tk.Status.State.Terminal() {
			continue
		}
		for _, a := range tk.NetworksAttachments {
			if _, ok := subnets[a.Network.ID]; !ok && tx.Service(tk.ServiceID) == nil {
				// Its network was removed after its service: the task is
				// on its way out.
				continue
			}
			for _, addr := range a.Addresses {
				hold(a.Network.ID, addr, "task "+tk.ID)
			}
		}
	}
}

func isBroadcast(a netip.Addr, subnet netip.Prefix) bool {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return v|((1<<(32-subnet.Bits()))-1) == v
}
