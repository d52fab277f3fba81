package state

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/allocator"
)

// Allocation happens inside the FSM's apply, in the write that creates
// the object: every replica computes the same values (the searches are
// deterministic and their hints are in the store), and the check and the
// allocation are one step, so two writers cannot both get a port or a
// subnet. See docs/networking.md, "Allocation".

// ipOf returns the address of "10.0.1.5/24" (or of a bare address).
func ipOf(cidr string) string {
	ip, _, _ := strings.Cut(cidr, "/")
	return ip
}

// invalidError is content the FSM refuses as sent. It is ErrInvalid.
type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, a ...any) error { return invalidError(fmt.Sprintf(format, a...)) }

// subnets returns the subnets of every network but skipID, with the
// network each belongs to.
func (w *writer) subnets(skipID string) ([]netip.Prefix, []string, error) {
	it, err := w.txn.Get(tableNetworks, "id")
	if err != nil {
		return nil, nil, err
	}
	var used []netip.Prefix
	var names []string
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n := raw.(*api.Network)
		sub, _ := n.Subnet()
		if n.ID == skipID || sub == "" {
			continue
		}
		p, err := netip.ParsePrefix(sub)
		if err != nil {
			continue
		}
		used, names = append(used, p), append(names, n.Spec.Name)
	}
	return used, names, nil
}

// allocNetwork gives n its subnet, gateway and VXLAN ID: the subnet its
// spec asks for, which must overlap no other network's, or the next free
// one of the cluster's pool.
func (w *writer) allocNetwork(n *api.Network) error {
	used, names, err := w.subnets(n.ID)
	if err != nil {
		return err
	}
	var subnet netip.Prefix
	var gw netip.Addr
	var want api.IPAMConfig
	if ipam := n.Spec.IPAM; ipam != nil {
		if ipam.Driver != "" && ipam.Driver != api.DefaultIPAMDriver {
			return invalidf("network %s: IPAM driver %q: only %q is supported", n.Spec.Name, ipam.Driver, api.DefaultIPAMDriver)
		}
		if len(ipam.Config) > 1 {
			return invalidf("network %s: %d subnets given: a network has one subnet", n.Spec.Name, len(ipam.Config))
		}
		if len(ipam.Config) == 1 {
			want = ipam.Config[0]
		}
	}
	if want.Gateway != "" && want.Subnet == "" {
		return invalidf("network %s: gateway %s without a subnet: give the subnet too", n.Spec.Name, want.Gateway)
	}
	if want.Subnet != "" {
		if subnet, err = allocator.ParseSubnet(want.Subnet); err != nil {
			return invalidf("network %s: %v", n.Spec.Name, err)
		}
		for i, u := range used {
			if u.Overlaps(subnet) {
				return fmt.Errorf("network %s: subnet %s overlaps subnet %s of network %s: %w", n.Spec.Name, subnet, u, names[i], ErrOverlap)
			}
		}
		if want.Gateway != "" {
			if gw, err = allocator.ParseGateway(want.Gateway, subnet); err != nil {
				return invalidf("network %s: %v", n.Spec.Name, err)
			}
		}
	} else {
		pool, err := w.pool()
		if err != nil {
			return fmt.Errorf("network %s: the cluster's address pool: %w", n.Spec.Name, err)
		}
		var last netip.Prefix
		if h := w.hint(hintSubnet); h != 0 {
			last = netip.PrefixFrom(allocator.Addr4(uint32(h)), pool.SubnetSize)
		}
		if subnet, err = pool.NextSubnet(used, last); err != nil {
			return fmt.Errorf("network %s: %w", n.Spec.Name, err)
		}
		if err := w.setHint(hintSubnet, uint64(allocator.Uint32(subnet.Addr()))); err != nil {
			return err
		}
	}
	if !gw.IsValid() {
		gw = allocator.Gateway(subnet)
	}
	vni, err := allocator.NextVNI(uint32(w.hint(hintVNI)), func(v uint32) bool {
		return w.first(tableNetworks, "vni", fmt.Sprint(v)) != nil
	})
	if err != nil {
		return fmt.Errorf("network %s: %w", n.Spec.Name, err)
	}
	if err := w.setHint(hintVNI, uint64(vni)); err != nil {
		return err
	}
	n.IPAM = &api.IPAM{Driver: api.DefaultIPAMDriver, Config: []api.IPAMConfig{{Subnet: subnet.String(), Gateway: gw.String()}}}
	n.DriverState = &api.NetworkDriverState{Name: n.Spec.Driver, VNI: vni}
	return nil
}

// network returns the network ref names (by name or ID), allocating a
// network stored before allocation existed on its first use.
func (w *writer) network(ref string) (*api.Network, error) {
	raw := w.first(tableNetworks, "name", ref)
	if raw == nil {
		raw = w.first(tableNetworks, "id", ref)
	}
	if raw == nil {
		return nil, fmt.Errorf("network %q %w", ref, ErrMissingRef)
	}
	n := raw.(*api.Network)
	if sub, _ := n.Subnet(); sub != "" {
		return n, nil
	}
	c := *n
	if err := w.allocNetwork(&c); err != nil {
		return nil, err
	}
	w.stamp(&c.Meta, false)
	if err := w.txn.Insert(tableNetworks, &c); err != nil {
		return nil, err
	}
	w.event(api.EventNetwork, api.ActionUpdate, c.ID, &c)
	return &c, nil
}

// attachments resolves a spec's network attachments to networks, each
// once (a network may be named twice, by name and by ID).
func (w *writer) attachments(list []api.NetworkAttachment) ([]*api.Network, error) {
	var out []*api.Network
	seen := map[string]bool{}
	for _, a := range list {
		n, err := w.network(a.Target)
		if err != nil {
			return nil, err
		}
		if !seen[n.ID] {
			seen[n.ID] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// addrTaken reports whether ip is held on network n: its gateway, a
// service's virtual IP, or the address of a task that has not ended.
func (w *writer) addrTaken(n *api.Network, gw, ip netip.Addr) bool {
	if ip == gw {
		return true
	}
	key := addrKey(n.ID, ip.String())
	return w.first(tableServices, "addr", key) != nil || anyUnder(w.tasks.byAddr, key)
}

// allocAddr hands out the next free address of network n, as
// "10.0.1.5/24".
func (w *writer) allocAddr(n *api.Network) (string, error) {
	sub, gateway := n.Subnet()
	subnet, err := netip.ParsePrefix(sub)
	if err != nil {
		return "", fmt.Errorf("network %s: stored subnet %q: %w", n.Spec.Name, sub, err)
	}
	gw, _ := netip.ParseAddr(gateway)
	key := hintAddrPfx + n.ID
	var last netip.Addr
	if h := w.hint(key); h != 0 {
		last = allocator.Addr4(uint32(h))
	}
	ip, err := allocator.NextAddr(subnet, last, func(a netip.Addr) bool { return w.addrTaken(n, gw, a) })
	if err != nil {
		return "", fmt.Errorf("network %s has no free addresses: %w", n.Spec.Name, err)
	}
	if err := w.setHint(key, uint64(allocator.Uint32(ip))); err != nil {
		return "", err
	}
	return netip.PrefixFrom(ip, subnet.Bits()).String(), nil
}

// allocEndpoint works out what svc's endpoint holds: its published ports,
// refusing one another service holds, with a port from 30000-32767 for a
// target-only port in ingress mode; and, in endpoint mode vip, a virtual
// IP on each of its networks. What prev (the service's endpoint before
// this write) holds is kept where the spec still asks for it, so an
// update moves neither a service's VIPs nor its dynamic ports.
func (w *writer) allocEndpoint(svc *api.Service, prev *api.Endpoint) (*api.Endpoint, error) {
	ep := &api.Endpoint{}
	spec := svc.Spec.EndpointSpec
	if spec != nil {
		ports, err := w.allocPorts(svc, spec.Ports, prev)
		if err != nil {
			return nil, err
		}
		ep.Ports = ports
	}
	if spec.EndpointMode() == api.EndpointModeVIP {
		nets, err := w.attachments(svc.Spec.TaskTemplate.Networks)
		if err != nil {
			return nil, err
		}
		for _, n := range nets {
			addr := prevVIP(prev, n.ID)
			if addr == "" {
				if addr, err = w.allocAddr(n); err != nil {
					return nil, fmt.Errorf("virtual IP: %w", err)
				}
			}
			ep.VirtualIPs = append(ep.VirtualIPs, api.EndpointVirtualIP{NetworkID: n.ID, Addr: addr})
		}
	}
	if len(ep.Ports) == 0 && len(ep.VirtualIPs) == 0 {
		return nil, nil
	}
	return ep, nil
}

// sameEndpointInputs reports whether two specs ask for the same
// endpoint: the same ports, endpoint mode and networks.
func sameEndpointInputs(a, b *api.ServiceSpec) bool {
	return api.SameJSON(a.EndpointSpec, b.EndpointSpec) && api.SameJSON(a.TaskTemplate.Networks, b.TaskTemplate.Networks)
}

func prevVIP(prev *api.Endpoint, networkID string) string {
	if prev == nil {
		return ""
	}
	for _, v := range prev.VirtualIPs {
		if v.NetworkID == networkID {
			return v.Addr
		}
	}
	return ""
}

// PortConflictError refuses a published port another service holds. It
// is ErrPortInUse.
type PortConflictError struct {
	// Port is "8080/tcp"; Service names the service that holds it.
	Port, Service string
}

func (e *PortConflictError) Error() string {
	return fmt.Sprintf("published port %s is already in use by service %s", e.Port, e.Service)
}

// Is makes errors.Is(err, ErrPortInUse) hold.
func (e *PortConflictError) Is(target error) bool { return target == ErrPortInUse }

// portHolder returns the name of a service other than svcID whose
// published port clashes with p (api.PortsClash), or "".
func (w *writer) portHolder(svcID string, p api.PortConfig) (string, error) {
	it, err := w.txn.Get(tableServices, "port", portKey(p.PublishedPort, p.Proto()))
	if err != nil {
		return "", err
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		o := raw.(*api.Service)
		if o.ID == svcID {
			continue
		}
		for _, q := range o.Endpoint.Ports {
			if api.PortsClash(p, q) {
				return o.Spec.Name, nil
			}
		}
	}
	return "", nil
}

// allocPorts returns the spec's ports as published: explicit ones checked
// against the other services', target-only ones in ingress mode given a
// port (the one they had in prev when it had one).
func (w *writer) allocPorts(svc *api.Service, spec []api.PortConfig, prev *api.Endpoint) ([]api.PortConfig, error) {
	out := make([]api.PortConfig, len(spec))
	mine := map[string]bool{}
	for i, p := range spec {
		p.Protocol, p.PublishMode = p.Proto(), p.Mode()
		out[i] = p
		if p.PublishedPort == 0 {
			continue
		}
		key := portKey(p.PublishedPort, p.Protocol)
		other, err := w.portHolder(svc.ID, p)
		if err != nil {
			return nil, err
		}
		if other != "" {
			return nil, &PortConflictError{Port: key, Service: other}
		}
		mine[key] = true
	}
	for i := range out {
		p := &out[i]
		if p.PublishedPort != 0 || p.PublishMode != api.PublishModeIngress {
			continue
		}
		taken := func(port uint32) bool {
			if mine[portKey(port, p.Protocol)] {
				return true
			}
			q := *p
			q.PublishedPort = port
			other, _ := w.portHolder(svc.ID, q)
			return other != ""
		}
		port := prevDynamicPort(prev, *p, taken)
		if port == 0 {
			hkey := hintPortPfx + p.Protocol
			var err error
			if port, err = allocator.NextPort(uint32(w.hint(hkey)), taken); err != nil {
				return nil, fmt.Errorf("port %d/%s: %w", p.TargetPort, p.Protocol, err)
			}
			if err := w.setHint(hkey, uint64(port)); err != nil {
				return nil, err
			}
		}
		p.PublishedPort = port
		mine[portKey(port, p.Protocol)] = true
	}
	return out, nil
}

// prevDynamicPort returns the port from the dynamic range that prev
// published for the same target port, protocol and mode, if it is still
// free for this service; 0 if none.
func prevDynamicPort(prev *api.Endpoint, p api.PortConfig, taken func(uint32) bool) uint32 {
	if prev == nil {
		return 0
	}
	for _, q := range prev.Ports {
		if q.TargetPort == p.TargetPort && q.Proto() == p.Protocol && q.Mode() == p.PublishMode &&
			q.PublishedPort >= allocator.DynamicPortFirst && q.PublishedPort <= allocator.DynamicPortLast && !taken(q.PublishedPort) {
			return q.PublishedPort
		}
	}
	return 0
}

// attachTask gives a new task an address on each network of its spec. A
// task for which a network has no free address is made rejected, with the
// reason as its error: the restart policy tries again later, and
// `service ps` says why.
func (w *writer) attachTask(t *api.Task) error {
	t.NetworksAttachments = nil
	if t.Status.State.Terminal() {
		return nil
	}
	reject := func(err error) {
		// The addresses handed out for the other networks are not
		// recorded anywhere: they stay free.
		w.advance(t, api.TaskStatus{State: api.TaskStateRejected, Timestamp: w.now, Message: "network allocation failed", Err: err.Error()})
	}
	nets, err := w.attachments(t.Spec.Networks)
	if errors.Is(err, allocator.ErrExhausted) {
		reject(err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("task %s: %w", t.ID, err)
	}
	var out []api.NetworkAttachmentStatus
	for _, n := range nets {
		addr, err := w.allocAddr(n)
		if errors.Is(err, allocator.ErrExhausted) {
			reject(err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("task %s: %w", t.ID, err)
		}
		out = append(out, api.NetworkAttachmentStatus{Network: api.NetworkRef{ID: n.ID, Name: n.Spec.Name}, Addresses: []string{addr}})
	}
	t.NetworksAttachments = out
	return nil
}
