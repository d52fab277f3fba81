package mesh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// SetPeers makes the network's VXLAN device know exactly the given tasks
// of other nodes: for each, a permanent neighbour (ARP) entry from its
// address to its MAC, which the device answers ARP requests from, then a
// forwarding (FDB) entry sending that MAC to its node, in that order (as
// flannel does) so a frame is never sent before its destination is known.
// Entries of tasks no longer listed are removed. Peers on this node itself
// (NodeAddr equal to the VTEP) are skipped: the bridge reaches them.
// It is idempotent.
func (n *Node) SetPeers(networkID string, peers []RemoteEndpoint) error {
	if err := validID("network", networkID); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.setPeers(networkID, peers)
}

func (n *Node) setPeers(networkID string, peers []RemoteEndpoint) error {
	want := map[netip.Addr]netip.Addr{}
	for _, p := range peers {
		if !p.TaskIP.Is4() || !p.NodeAddr.Is4() {
			return fmt.Errorf("set peers of network %s: peer %v on node %v: want IPv4 addresses", networkID, p.TaskIP, p.NodeAddr)
		}
		if p.NodeAddr != n.cfg.VTEP {
			want[p.TaskIP] = p.NodeAddr
		}
	}
	if err := n.programPeers(networkID, want); err != nil {
		return fmt.Errorf("set peers of network %s: %w", networkID, err)
	}
	return nil
}

// programPeers writes the entries of want (task address → node address)
// and removes the others.
func (n *Node) programPeers(networkID string, want map[netip.Addr]netip.Addr) error {
	vx, err := n.vxlanOf(networkID)
	if err != nil {
		return err
	}
	idx := vx.Attrs().Index
	for ip, node := range want {
		mac := macFor(ip)
		if err := n.nl.NeighSet(&netlink.Neigh{
			LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: net.IP(ip.AsSlice()), HardwareAddr: mac,
		}); err != nil {
			return fmt.Errorf("neighbour %v: %w", ip, err)
		}
		if err := n.nl.NeighSet(&netlink.Neigh{
			LinkIndex: idx, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
			IP: net.IP(node.AsSlice()), HardwareAddr: mac,
		}); err != nil {
			return fmt.Errorf("forwarding entry %v via %v: %w", mac, node, err)
		}
	}
	if err := n.removeStalePeers(idx, want); err != nil {
		return err
	}
	return n.refreshVTEPs()
}

// removeStalePeers deletes the VXLAN device's entries of tasks not in want:
// the forwarding entry first, so no frame goes to a node that no longer
// holds the task, then the neighbour entry. It tries every delete.
func (n *Node) removeStalePeers(idx int, want map[netip.Addr]netip.Addr) error {
	wantMAC := map[string]netip.Addr{}
	for ip, node := range want {
		wantMAC[macFor(ip).String()] = node
	}
	var errs []error
	fdb, err := neighbours(n.nl, idx, unix.AF_BRIDGE)
	if err != nil {
		return err
	}
	for _, e := range fdb {
		if e.LinkIndex != idx || e.IP == nil || e.Flags&netlink.NTF_SELF == 0 {
			continue // not a VXLAN destination entry
		}
		node, ok := wantMAC[e.HardwareAddr.String()]
		if ok && net.IP(node.AsSlice()).Equal(e.IP) {
			continue
		}
		if err := n.nl.NeighDel(&e); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("delete forwarding entry %v via %v: %w", e.HardwareAddr, e.IP, err))
		}
	}
	arp, err := neighbours(n.nl, idx, netlink.FAMILY_V4)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, e := range arp {
		ip, ok := netip.AddrFromSlice(e.IP.To4())
		if e.LinkIndex != idx || !ok {
			continue
		}
		if _, keep := want[ip]; keep {
			continue
		}
		if err := n.nl.NeighDel(&e); err != nil && !isGone(err) {
			errs = append(errs, fmt.Errorf("delete neighbour %v: %w", ip, err))
		}
	}
	return errors.Join(errs...)
}

// vxlanOf returns the VXLAN device of a network on this node.
func (n *Node) vxlanOf(networkID string) (netlink.Link, error) {
	nw, err := n.network(networkID)
	if err != nil {
		return nil, err
	}
	vx, err := n.nl.LinkByName(vxlanName(nw.VNI))
	if err != nil {
		return nil, fmt.Errorf("find VXLAN device of network %s: %w", networkID, err)
	}
	return vx, nil
}

// network returns a network on this node, from the kernel.
func (n *Node) network(id string) (Network, error) {
	nws, err := n.networks()
	if err != nil {
		return Network{}, err
	}
	for _, nw := range nws {
		if nw.ID == id {
			return nw, nil
		}
	}
	return Network{}, fmt.Errorf("network %s is not on this node; call EnsureNetwork first", id)
}
