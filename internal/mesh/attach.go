package mesh

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Attach plumbs a task's network namespace (a file such as
// /proc/<pid>/ns/net, or one NewNamespace made) into its networks, in
// order: for each endpoint a veth whose host side is a port of the
// network's bridge and whose other side is made in the task's namespace as
// the first free name of eth0, eth1… (a container on its engine's bridge
// already has eth0), with the endpoint's address and a MAC derived from
// it. It brings lo up and routes by default through the gateway of the
// first network that is not internal and whose endpoint does not say
// NoDefaultRoute. The networks must be on this node
// (EnsureNetwork). The task must not be attached already; if Attach
// fails, it removes what it made.
func (n *Node) Attach(taskID, netnsPath string, endpoints []Endpoint) error {
	if err := validTask(taskID, endpoints); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.attach(taskID, netnsPath, endpoints); err != nil {
		return fmt.Errorf("attach task %s: %w", taskID, err)
	}
	return nil
}

// validTask checks a task's ID and endpoints before anything is made.
func validTask(taskID string, endpoints []Endpoint) error {
	if err := validID("task", taskID); err != nil {
		return err
	}
	if len(endpoints) == 0 {
		return fmt.Errorf("attach task %s: no endpoints; a task without networks needs no plumbing", taskID)
	}
	seen := map[string]bool{}
	for _, ep := range endpoints {
		if err := validID("network", ep.NetworkID); err != nil {
			return fmt.Errorf("attach task %s: %w", taskID, err)
		}
		if seen[ep.NetworkID] {
			return fmt.Errorf("attach task %s: network %s is listed twice", taskID, ep.NetworkID)
		}
		seen[ep.NetworkID] = true
	}
	return nil
}

func (n *Node) attach(taskID, netnsPath string, endpoints []Endpoint) error {
	if have, err := n.taskLinks(taskID); err != nil {
		return err
	} else if len(have) > 0 {
		return fmt.Errorf("already attached (%s); detach it first", have[0].Attrs().Name)
	}
	nws, err := n.networks()
	if err != nil {
		return err
	}
	byID := map[string]Network{}
	for _, nw := range nws {
		byID[nw.ID] = nw
	}
	for _, ep := range endpoints {
		nw, ok := byID[ep.NetworkID]
		if !ok {
			return fmt.Errorf("network %s is not on this node; call EnsureNetwork first", ep.NetworkID)
		}
		if !ep.Address.IsValid() || ep.Address.Bits() != nw.Subnet.Bits() || !nw.Subnet.Contains(ep.Address.Addr()) {
			return fmt.Errorf("address %v is not in network %s's subnet %v", ep.Address, nw.ID, nw.Subnet)
		}
		if a := ep.Address.Addr(); a == nw.Gateway || a == nw.NodeAddress {
			return fmt.Errorf("address %v is network %s's gateway or this node's address on it", ep.Address, nw.ID)
		}
	}
	taskNS, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("open task namespace %s: %w", netnsPath, err)
	}
	defer taskNS.Close()
	tnl, err := netlink.NewHandleAt(taskNS)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", netnsPath, err)
	}
	defer tnl.Close()

	err = n.plumb(taskID, taskNS, tnl, endpoints, byID)
	if err != nil {
		// Deleting the host sides deletes the task sides, and their
		// addresses and routes with them.
		err = errors.Join(err, n.detach(taskID))
	}
	return err
}

// plumb makes the task's veths and configures its namespace.
func (n *Node) plumb(taskID string, taskNS netns.NsHandle, tnl *netlink.Handle, endpoints []Endpoint, byID map[string]Network) error {
	var gateway *Network
	var gatewayDev string
	names, err := freeNames(tnl, len(endpoints))
	if err != nil {
		return err
	}
	for i, ep := range endpoints {
		nw := byID[ep.NetworkID]
		br, err := n.nl.LinkByName(bridgeName(nw.VNI))
		if err != nil {
			return fmt.Errorf("find bridge of network %s: %w", nw.ID, err)
		}
		host, peer := vethName(taskID, nw.ID), names[i]
		veth := &netlink.Veth{
			LinkAttrs:        netlink.LinkAttrs{Name: host, MTU: n.cfg.MTU, MasterIndex: br.Attrs().Index},
			PeerName:         peer,
			PeerHardwareAddr: macFor(ep.Address.Addr()),
			PeerNamespace:    netlink.NsFd(taskNS),
			PeerMTU:          uint32(n.cfg.MTU),
		}
		if err := n.nl.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth %s (%s in the task) on network %s: %w", host, peer, nw.ID, err)
		}
		if err := n.nl.LinkSetAlias(veth, vethAlias(taskID, nw.ID)); err != nil {
			return fmt.Errorf("label veth %s: %w", host, err)
		}
		if err := n.nl.LinkSetUp(veth); err != nil {
			return fmt.Errorf("bring up veth %s: %w", host, err)
		}
		in, err := tnl.LinkByName(peer)
		if err != nil {
			return fmt.Errorf("find %s in the task: %w", peer, err)
		}
		if err := tnl.AddrAdd(in, &netlink.Addr{IPNet: ipNet(ep.Address)}); err != nil {
			return fmt.Errorf("add address %v to %s: %w", ep.Address, peer, err)
		}
		if err := tnl.LinkSetUp(in); err != nil {
			return fmt.Errorf("bring up %s in the task: %w", peer, err)
		}
		if gateway == nil && !nw.Internal && !ep.NoDefaultRoute {
			gateway, gatewayDev = &nw, peer
		}
	}
	lo, err := tnl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo in the task: %w", err)
	}
	if err := tnl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring up lo in the task: %w", err)
	}
	if gateway == nil {
		return nil // only internal networks, or the way out is elsewhere
	}
	dev, err := tnl.LinkByName(gatewayDev)
	if err != nil {
		return fmt.Errorf("find %s in the task: %w", gatewayDev, err)
	}
	if err := tnl.RouteReplace(&netlink.Route{
		LinkIndex: dev.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        net.IP(gateway.Gateway.AsSlice()),
	}); err != nil {
		return fmt.Errorf("route through %v (network %s): %w", gateway.Gateway, gateway.ID, err)
	}
	return nil
}

// freeNames returns the first n names eth0, eth1… not taken in the task's
// namespace.
func freeNames(tnl *netlink.Handle, n int) ([]string, error) {
	ls, err := links(tnl)
	if err != nil {
		return nil, fmt.Errorf("in the task: %w", err)
	}
	taken := map[string]bool{}
	for _, l := range ls {
		taken[l.Attrs().Name] = true
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		if name := "eth" + strconv.Itoa(i); !taken[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// Detach removes a task's veths (the host sides, which takes the task
// sides, addresses and routes with them). It tries every delete; detaching
// a task that is not attached is not an error.
func (n *Node) Detach(taskID string) error {
	if err := validID("task", taskID); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.detach(taskID); err != nil {
		return fmt.Errorf("detach task %s: %w", taskID, err)
	}
	return nil
}

func (n *Node) detach(taskID string) error {
	ls, err := n.taskLinks(taskID)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range ls {
		if err := n.nl.LinkDel(l); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// taskLinks returns the host sides of a task's veths.
func (n *Node) taskLinks(taskID string) ([]netlink.Link, error) {
	ls, err := links(n.nl)
	if err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, l := range ls {
		if kv := parseAlias(l.Attrs().Alias); kv != nil && kv["task"] == taskID {
			out = append(out, l)
		}
	}
	return out, nil
}
