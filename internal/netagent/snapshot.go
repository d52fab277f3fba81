package netagent

import (
	"net/netip"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/mesh/resolver"
)

// View is the part of the cluster state a node's networking follows: what
// its resolver answers, its tasks' virtual IPs balance over, and where
// the tasks of other nodes are.
type View struct {
	Networks []*api.Network
	Services []*api.Service
	Tasks    []*api.Task
	// Nodes give each node's VTEP: Status.Addr, as the managers observed
	// it.
	Nodes []*api.Node
}

// Ready reports whether a task takes new connections and is in DNS
// answers: meant to run, running, and healthy if it has a health check. A
// task marked to stop leaves at once, as it does the HTTP ingress's pool.
func Ready(t *api.Task) bool {
	return t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning &&
		(t.Status.Health == "" || t.Status.Health == api.HealthHealthy)
}

// live reports whether a task may still run: it can still ask questions.
func live(t *api.Task) bool {
	return t.DesiredState <= api.TaskStateRunning && !t.Status.State.Terminal()
}

// DNSSnapshot turns the view into what the resolver answers from: the
// networks, the services with their VIPs and aliases per network, and the
// live tasks with their addresses. Tasks of services no longer in the view
// and addresses that do not parse are left out, so one odd object cannot
// make the whole snapshot refused.
func DNSSnapshot(v View) resolver.Snapshot {
	var s resolver.Snapshot
	byName := map[string]string{}
	known := map[string]bool{}
	for _, n := range v.Networks {
		s.Networks = append(s.Networks, resolver.Network{ID: n.ID, Name: n.Spec.Name, Internal: n.Spec.Internal})
		byName[n.Spec.Name] = n.ID
		known[n.ID] = true
	}
	netID := func(target string) string {
		if known[target] {
			return target
		}
		return byName[target]
	}
	services := map[string]bool{}
	for _, svc := range v.Services {
		rs := resolver.Service{ID: svc.ID, Name: svc.Spec.Name, Stack: svc.Spec.Labels[api.StackNamespaceLabel],
			EndpointMode: resolver.EndpointMode(svc.Spec.EndpointSpec.EndpointMode())}
		vips := map[string]netip.Addr{}
		if svc.Endpoint != nil {
			for _, vip := range svc.Endpoint.VirtualIPs {
				if p, err := netip.ParsePrefix(vip.Addr); err == nil {
					vips[vip.NetworkID] = p.Addr()
				}
			}
		}
		seen := map[string]bool{}
		for _, att := range svc.Spec.TaskTemplate.Networks {
			id := netID(att.Target)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			rs.Networks = append(rs.Networks, resolver.ServiceNetwork{Network: id, VIP: vips[id], Aliases: att.Aliases})
		}
		services[svc.ID] = true
		s.Services = append(s.Services, rs)
	}
	used := map[netip.Addr]bool{}
	for _, t := range v.Tasks {
		if !services[t.ServiceID] || !live(t) {
			continue
		}
		rt := resolver.Task{ID: t.ID, Service: t.ServiceID, Name: t.FullName(), Ready: Ready(t)}
		for _, na := range t.NetworksAttachments {
			if !known[na.Network.ID] || len(na.Addresses) == 0 {
				continue
			}
			p, err := netip.ParsePrefix(na.Addresses[0])
			if err != nil || used[p.Addr()] {
				continue
			}
			used[p.Addr()] = true
			rt.Networks = append(rt.Networks, resolver.TaskAddress{Network: na.Network.ID, Addr: p.Addr()})
		}
		if len(rt.Networks) > 0 {
			s.Tasks = append(s.Tasks, rt)
		}
	}
	return s
}
