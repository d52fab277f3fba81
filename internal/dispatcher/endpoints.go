package dispatcher

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/shoalproject/shoal/api"
)

// Every ingress proxies to the endpoints a task's node reports, so an
// endpoint is a node's claim about where the cluster should send traffic.
// A node may claim only its own address (the one it registered with,
// which the agent link checks against the connection it came from), the
// target ports the task's spec publishes, and a host port that is neither
// out of range nor one the manager itself listens on. The host port
// itself is the node's to pick (the process runtime asks the kernel for a
// free one, Docker picks one), except a container's port published in
// host mode, which must be the published port. A task in a network
// namespace of its own (a process task on networks) may also be claimed
// on one of its own overlay addresses, which the managers allocated, on
// its target port: that is where it listens, and where its node reaches
// it (the process runtime now reports the node port it forwards to it
// instead, so that every node reaches it; an agent that reported the
// overlay address stays valid).

// Reserve records addresses the manager listens on (its agent port, its
// ingress): no task endpoint may point at them, or every ingress would
// proxy the world to the manager's own ports.
func (d *Dispatcher) Reserve(addrs ...netip.AddrPort) {
	d.resMu.Lock()
	defer d.resMu.Unlock()
	for _, a := range addrs {
		d.reserved = append(d.reserved, netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))
	}
}

// vetEndpoints returns the endpoints of eps that a task t's node, at
// address nodeAddr, may claim, and why the others were refused (nil when
// none was). When every endpoint is refused it returns nil rather than an
// empty list, so that the task keeps the endpoints it had; an empty eps
// (the task lost them all) is returned as it is, and clears them.
func (d *Dispatcher) vetEndpoints(t *api.Task, nodeAddr string, eps []api.TaskEndpoint) ([]api.TaskEndpoint, error) {
	if len(eps) == 0 {
		return []api.TaskEndpoint{}, nil
	}
	// Each published target port may be claimed once per port config.
	left := map[string]int{}
	published := map[string]uint32{}
	var ports []api.PortConfig
	if t.Endpoint != nil {
		ports = t.Endpoint.Ports
	}
	// The agent also publishes the ports the routing labels name.
	for _, p := range api.RoutedPorts(ports, t.ServiceLabels) {
		k := portKey(p.TargetPort, p.Protocol)
		left[k]++
		if p.PublishMode == "host" && p.PublishedPort != 0 && t.Spec.ContainerSpec.Image != "" {
			published[k] = p.PublishedPort
		}
	}
	var kept []api.TaskEndpoint
	var errs []error
	for _, ep := range eps {
		k := portKey(ep.TargetPort, ep.Protocol)
		var err error
		if host, p, splitErr := net.SplitHostPort(ep.Addr); splitErr == nil && isTaskAddr(t, host) {
			err = vetOverlayEndpoint(ep, p, left[k] > 0)
		} else {
			err = d.vetEndpoint(nodeAddr, ep, left[k] > 0, published[k])
		}
		if err != nil {
			// A few reasons tell what is wrong; the log needs no more.
			if len(errs) < 3 {
				errs = append(errs, fmt.Errorf("endpoint %.64q for %.16s: %w", ep.Addr, k, err))
			}
			continue
		}
		left[k]--
		kept = append(kept, ep)
	}
	return kept, errors.Join(errs...)
}

// vetEndpoint checks one endpoint; allowed tells whether its target port
// is one the task publishes (and not yet claimed), published is the host
// port it must use (0: any).
func (d *Dispatcher) vetEndpoint(nodeAddr string, ep api.TaskEndpoint, allowed bool, published uint32) error {
	if !allowed {
		return errors.New("the task's spec publishes no such target port")
	}
	if nodeAddr == "" {
		return errors.New("the node has no address")
	}
	host, p, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return errors.New("not HOST:PORT")
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return errors.New("host port not in 1-65535")
	}
	if !sameHost(host, nodeAddr) {
		return fmt.Errorf("not on the node's address %s", nodeAddr)
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Zone() != "" {
		// A zone names a link of the machine that dials: on another
		// node's ingress, fe80::1%eth1 is whatever answers there.
		return errors.New("an address with a zone (%link)")
	}
	if published != 0 && uint32(port) != published {
		return fmt.Errorf("the port is published on host port %d", published)
	}
	if ip, err := netip.ParseAddr(host); err == nil && d.isReserved(netip.AddrPortFrom(ip.Unmap(), uint16(port))) {
		return errors.New("a port the manager listens on")
	}
	return nil
}

// isTaskAddr reports whether host is one of the task's addresses on its
// networks.
func isTaskAddr(t *api.Task, host string) bool {
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Zone() != "" {
		return false
	}
	for _, na := range t.NetworksAttachments {
		for _, a := range na.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil && p.Addr() == ip.Unmap() {
				return true
			}
		}
	}
	return false
}

// vetOverlayEndpoint checks an endpoint on the task's own overlay
// address: only its target port, as the task listens on it in its own
// namespace.
func vetOverlayEndpoint(ep api.TaskEndpoint, port string, allowed bool) error {
	if !allowed {
		return errors.New("the task's spec publishes no such target port")
	}
	if port != strconv.FormatUint(uint64(ep.TargetPort), 10) {
		return errors.New("on the task's own address, only its target port")
	}
	return nil
}

// isReserved reports whether ap reaches a port the manager listens on.
func (d *Dispatcher) isReserved(ap netip.AddrPort) bool {
	d.resMu.Lock()
	defer d.resMu.Unlock()
	for _, r := range d.reserved {
		if r.Port() != ap.Port() {
			continue
		}
		if r.Addr() == ap.Addr() || (r.Addr().IsUnspecified() && isLocal(ap.Addr())) {
			return true
		}
	}
	return false
}

// isLocal reports whether ip is an address of this machine.
func isLocal(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		// Unknown: treat it as ours, refusing the endpoint rather than
		// risking the manager's port.
		return true
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if own, ok := netip.AddrFromSlice(n.IP); ok && own.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// sameHost reports whether two hosts are the same address: equal IPs
// (an IPv4-mapped IPv6 address is its IPv4 one), or equal names.
func sameHost(a, b string) bool {
	x, errX := netip.ParseAddr(a)
	y, errY := netip.ParseAddr(b)
	if errX == nil && errY == nil {
		return x.Unmap().WithZone("") == y.Unmap().WithZone("")
	}
	return a == b
}

// portKey names a target port and its protocol, "80/tcp".
func portKey(target uint32, proto string) string {
	proto = strings.ToLower(proto)
	if proto == "" {
		proto = "tcp"
	}
	return strconv.FormatUint(uint64(target), 10) + "/" + proto
}
