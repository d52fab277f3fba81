package mesh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
)

// EnsureNetwork makes the network's plumbing on this node, or repairs it:
// a bridge holding the gateway address, a VXLAN device on it (no learning,
// no multicast: SetPeers programs where each remote task is), and the
// network's forwarding rules. It is idempotent. If it fails on a network
// that was not there, it removes what it made.
func (n *Node) EnsureNetwork(nw Network) error {
	if err := nw.validate(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ensureNetwork(nw)
}

// ensureNetwork does EnsureNetwork's work on a valid network, and undoes
// it if it fails on a network that was not there.
func (n *Node) ensureNetwork(nw Network) error {
	created, err := n.makeNetwork(nw)
	if err != nil && created {
		err = errors.Join(err, n.removeNetwork(nw.ID))
	}
	if err != nil {
		return fmt.Errorf("ensure network %s: %w", nw.ID, err)
	}
	return nil
}

// makeNetwork makes or repairs the network's plumbing; created says
// whether it made the bridge (so a failure should undo everything).
func (n *Node) makeNetwork(nw Network) (created bool, err error) {
	// The same network under another VNI (made again in the cluster):
	// its old plumbing goes first.
	nws, err := n.networks()
	if err != nil {
		return false, err
	}
	for _, old := range nws {
		if old.ID == nw.ID && old.VNI != nw.VNI {
			if err := n.removeNetwork(nw.ID); err != nil {
				return false, fmt.Errorf("remove its plumbing of VNI %d: %w", old.VNI, err)
			}
		}
	}
	name := bridgeName(nw.VNI)
	br, err := n.nl.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		br = &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{
			Name: name, MTU: n.cfg.MTU,
			// A fixed MAC, so the bridge's address does not follow its
			// ports as they come and go.
			HardwareAddr: nw.bridgeMAC(),
		}}
		if err := n.nl.LinkAdd(br); err != nil {
			return false, fmt.Errorf("add bridge %s: %w", name, err)
		}
		created = true
		if br, err = n.nl.LinkByName(name); err != nil {
			return created, fmt.Errorf("find bridge %s: %w", name, err)
		}
	case err != nil:
		return false, fmt.Errorf("find bridge %s: %w", name, err)
	default:
		if br.Type() != "bridge" {
			return false, fmt.Errorf("link %s exists and is a %s, not a bridge; remove it", name, br.Type())
		}
		if kv := parseAlias(br.Attrs().Alias); kv != nil && kv["net"] != nw.ID {
			return false, fmt.Errorf("VNI %d is used by network %s on this node", nw.VNI, kv["net"])
		}
	}
	if err := n.nl.LinkSetAlias(br, bridgeAlias(nw)); err != nil {
		return created, fmt.Errorf("label bridge %s: %w", name, err)
	}
	if br.Attrs().HardwareAddr.String() != nw.bridgeMAC().String() {
		if err := n.nl.LinkSetHardwareAddr(br, nw.bridgeMAC()); err != nil {
			return created, fmt.Errorf("set the MAC of bridge %s: %w", name, err)
		}
	}
	if err := n.setAddresses(br, nw.bridgeAddresses()); err != nil {
		return created, err
	}
	if err := n.ensureVXLAN(nw, br); err != nil {
		return created, err
	}
	if err := n.nl.LinkSetUp(br); err != nil {
		return created, fmt.Errorf("bring up bridge %s: %w", name, err)
	}
	if err := n.ensureRules(nw); err != nil {
		return created, err
	}
	if err := n.refreshVTEPs(); err != nil {
		return created, err
	}
	if !nw.Internal {
		if err := n.enableForwarding(); err != nil {
			return created, err
		}
	}
	return created, nil
}

// setAddresses makes want the link's IPv4 addresses, the first primary.
// The kernel lists the primary first; if the list differs, all go and come
// back in order.
func (n *Node) setAddresses(link netlink.Link, want []netip.Prefix) error {
	name := link.Attrs().Name
	have, err := addresses(n.nl, link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", name, err)
	}
	same := len(have) == len(want)
	for i := 0; same && i < len(have); i++ {
		same = have[i].IPNet.String() == ipNet(want[i]).String()
	}
	if same {
		return nil
	}
	for _, a := range have {
		if err := n.nl.AddrDel(link, &a); err != nil && !isGone(err) {
			return fmt.Errorf("remove address %s of %s: %w", a.IPNet, name, err)
		}
	}
	for _, p := range want {
		if err := n.nl.AddrAdd(link, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
			return fmt.Errorf("add address %s to %s: %w", p, name, err)
		}
	}
	return nil
}

// ensureVXLAN makes the network's VXLAN device a port of br, replacing one
// whose settings differ (its VNI, port and source address cannot change).
func (n *Node) ensureVXLAN(nw Network, br netlink.Link) error {
	name := vxlanName(nw.VNI)
	want := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: name, MTU: n.cfg.MTU, MasterIndex: br.Attrs().Index},
		VxlanId:   int(nw.VNI),
		SrcAddr:   net.IP(n.cfg.VTEP.AsSlice()),
		Port:      int(n.cfg.VXLANPort),
		Learning:  false,
		// The device answers ARP requests from its static neighbour
		// entries, so no broadcast crosses the overlay.
		Proxy: true,
		// Source ports only root may bind (vteps.go).
		PortLow: vxlanSrcPortLow, PortHigh: vxlanSrcPortHigh,
	}
	link, err := n.nl.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
	case err != nil:
		return fmt.Errorf("find VXLAN %s: %w", name, err)
	default:
		vx, ok := link.(*netlink.Vxlan)
		if ok && vx.VxlanId == want.VxlanId && vx.Port == want.Port && vx.SrcAddr.Equal(want.SrcAddr) && !vx.Learning && vx.Proxy &&
			vx.PortLow == want.PortLow && vx.PortHigh == want.PortHigh {
			if vx.MasterIndex != br.Attrs().Index {
				if err := n.nl.LinkSetMaster(vx, br); err != nil {
					return fmt.Errorf("attach VXLAN %s to %s: %w", name, br.Attrs().Name, err)
				}
			}
			if err := n.nl.LinkSetUp(vx); err != nil {
				return fmt.Errorf("bring up VXLAN %s: %w", name, err)
			}
			return nil
		}
		if err := n.nl.LinkDel(link); err != nil {
			return fmt.Errorf("replace VXLAN %s: %w", name, err)
		}
	}
	if err := n.nl.LinkAdd(want); err != nil {
		return fmt.Errorf("add VXLAN %s (VNI %d, port %d): %w", name, nw.VNI, n.cfg.VXLANPort, err)
	}
	if err := n.nl.LinkSetAlias(want, aliasTag+" net="+nw.ID+" vxlan="+strconv.FormatUint(uint64(nw.VNI), 10)); err != nil {
		return fmt.Errorf("label VXLAN %s: %w", name, err)
	}
	if err := n.nl.LinkSetUp(want); err != nil {
		return fmt.Errorf("bring up VXLAN %s: %w", name, err)
	}
	return nil
}

// RemoveNetwork removes the network's plumbing from this node: the
// interfaces of tasks still attached to it, its VXLAN device, bridge and
// rules. It tries every removal and reports all that failed. Removing a
// network that is not there is not an error.
func (n *Node) RemoveNetwork(id string) error {
	if err := validID("network", id); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.removeNetwork(id); err != nil {
		return fmt.Errorf("remove network %s: %w", id, err)
	}
	return nil
}

func (n *Node) removeNetwork(id string) error {
	ls, err := links(n.nl)
	if err != nil {
		return err
	}
	var errs []error
	// Task interfaces first, then the VXLAN device, then the bridge, so
	// nothing is left without its bridge.
	for _, order := range []string{"task", "vxlan", "net"} {
		for _, l := range ls {
			kv := parseAlias(l.Attrs().Alias)
			if kv == nil || kv["net"] != id {
				continue
			}
			_, isTask := kv["task"]
			isVXLAN := strings.HasPrefix(l.Attrs().Name, vxlanPrefix)
			isBridge := strings.HasPrefix(l.Attrs().Name, bridgePrefix)
			if order == "task" && isTask || order == "vxlan" && isVXLAN || order == "net" && isBridge {
				if err := n.nl.LinkDel(l); err != nil && !isGone(err) {
					errs = append(errs, fmt.Errorf("delete %s: %w", l.Attrs().Name, err))
				}
			}
		}
	}
	errs = append(errs, n.removeRules(id), n.refreshVTEPs())
	return errors.Join(errs...)
}

// networks returns the networks whose bridges are on this node, from the
// kernel.
func (n *Node) networks() ([]Network, error) {
	ls, err := links(n.nl)
	if err != nil {
		return nil, err
	}
	var nws []Network
	for _, l := range ls {
		name := l.Attrs().Name
		kv := parseAlias(l.Attrs().Alias)
		if kv == nil || kv["net"] == "" || !strings.HasPrefix(name, bridgePrefix) {
			continue
		}
		vni, err := strconv.ParseUint(strings.TrimPrefix(name, bridgePrefix), 10, 32)
		if err != nil {
			continue
		}
		gw, _ := netip.ParseAddr(kv["gw"])
		nw := Network{ID: kv["net"], VNI: uint32(vni), Internal: kv["internal"] == "1", Gateway: gw}
		addrs, err := addresses(n.nl, l, netlink.FAMILY_V4)
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", name, err)
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP.To4())
			ones, _ := a.Mask.Size()
			if !ok {
				continue
			}
			nw.Subnet = netip.PrefixFrom(ip, ones).Masked()
			if ip != gw {
				nw.NodeAddress = ip
			}
		}
		nws = append(nws, nw)
	}
	return nws, nil
}

// ipNet converts a prefix holding an address (not masked) to a net.IPNet.
func ipNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), bits)}
}
