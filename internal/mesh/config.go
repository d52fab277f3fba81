package mesh

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// DefaultVXLANPort is the UDP port of the VXLAN data path (IANA's, and
// Swarm's default --data-path-port).
const DefaultVXLANPort = 4789

// DefaultNamespaceDir holds the network namespaces NewNamespace makes.
const DefaultNamespaceDir = "/run/shoal/netns"

// DefaultMTU is the MTU of the overlay (bridges, VXLAN devices and task
// interfaces) unless Config.MTU says otherwise. VXLAN over IPv4 adds 50
// bytes to each frame, so a 1500-byte underlay carries 1450-byte frames
// (Docker's overlay default too).
const DefaultMTU = 1450

// Prefixes of the names of the links the package makes. A link name has at
// most 15 characters.
const (
	bridgePrefix = "shbr-" // + VNI in decimal: at most 13 characters
	vxlanPrefix  = "shvx-" // + VNI in decimal
	vethPrefix   = "shv"   // + 12 hex digits of a hash of task and network
)

// maxVNI is the largest VXLAN network identifier (24 bits).
const maxVNI = 1<<24 - 1

// Config describes the node the package plumbs.
type Config struct {
	// NetNS is the path of the node's network namespace, where bridges,
	// VXLAN devices and rules go. Empty means the process's own (the
	// host's); tests pass a namespace of their own.
	NetNS string
	// VTEP is this node's address that other nodes send VXLAN packets to.
	VTEP netip.Addr
	// VXLANPort is the UDP port of VXLAN; 0 means DefaultVXLANPort. All
	// nodes of a cluster must use the same port.
	VXLANPort uint16
	// NamespaceDir holds the namespaces NewNamespace makes; empty means
	// DefaultNamespaceDir. It must be a directory of mode 0700 owned by
	// this process's user (it is created so if missing).
	NamespaceDir string
	// MTU of the overlay; 0 means DefaultMTU. Set it to the underlay's
	// MTU less 50 when the underlay's is not 1500.
	MTU int
	// Logger receives what the package notices; nil means slog.Default().
	Logger *slog.Logger
}

// Network is one overlay network as this node sees it.
type Network struct {
	// ID identifies the network in the cluster.
	ID string
	// VNI is the VXLAN network identifier, 1 to 16777215, unique in the
	// cluster; it names the network's bridge and VXLAN device.
	VNI uint32
	// Subnet holds the addresses of the network's tasks (IPv4).
	Subnet netip.Prefix
	// Gateway is the bridge's address in Subnet, the tasks' next hop out.
	Gateway netip.Addr
	// Internal networks have no route out of the cluster.
	Internal bool
	// NodeAddress, if set, is this node's own address on the network
	// (one per node, allocated like a task's). The gateway address is the
	// same on every node, so without it the node reaches only its own
	// tasks: a task on another node would answer the node's packets to
	// its own gateway. With it, what the node itself sends into the
	// network (the routing mesh, the ingress) leaves from this address,
	// which the other nodes know as a peer (RemoteEndpoint).
	NodeAddress netip.Addr
}

// Endpoint is a task's address on one network.
type Endpoint struct {
	NetworkID string
	// Address is the task's address with the network's prefix length.
	Address netip.Prefix
	// NoDefaultRoute keeps the task's default route off this network even
	// when it is not internal: for a container whose own engine interface
	// (Docker's bridge, the role of Swarm's docker_gwbridge) already holds
	// the default route and the published ports.
	NoDefaultRoute bool
}

// RemoteEndpoint is a task on another node: its address on the network and
// the VTEP address of its node.
type RemoteEndpoint struct {
	TaskIP   netip.Addr
	NodeAddr netip.Addr
}

// validID checks a task or network ID: it goes in link aliases and file
// names, so only [A-Za-z0-9_.-], at most 128 characters.
func validID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%s ID is empty", what)
	}
	if len(id) > 128 {
		return fmt.Errorf("%s ID %.20q… is longer than 128 characters", what, id)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%s ID %q is not a valid name", what, id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return fmt.Errorf("%s ID %q has %q; use only letters, digits, '_', '.' and '-'", what, id, r)
		}
	}
	return nil
}

// validate checks a network's configuration.
func (nw Network) validate() error {
	if err := validID("network", nw.ID); err != nil {
		return err
	}
	if nw.VNI < 1 || nw.VNI > maxVNI {
		return fmt.Errorf("network %s: VNI %d is outside 1–%d", nw.ID, nw.VNI, maxVNI)
	}
	if !nw.Subnet.IsValid() || !nw.Subnet.Addr().Is4() {
		return fmt.Errorf("network %s: subnet %v is not an IPv4 prefix (IPv6 networks are not supported)", nw.ID, nw.Subnet)
	}
	if nw.Subnet.Bits() > 30 {
		return fmt.Errorf("network %s: subnet %v is too small; use a /30 or larger", nw.ID, nw.Subnet)
	}
	if nw.Subnet != nw.Subnet.Masked() {
		return fmt.Errorf("network %s: subnet %v has host bits set; use %v", nw.ID, nw.Subnet, nw.Subnet.Masked())
	}
	if !nw.Subnet.Contains(nw.Gateway) {
		return fmt.Errorf("network %s: gateway %v is not in subnet %v", nw.ID, nw.Gateway, nw.Subnet)
	}
	if nw.NodeAddress.IsValid() && (!nw.Subnet.Contains(nw.NodeAddress) || nw.NodeAddress == nw.Gateway) {
		return fmt.Errorf("network %s: node address %v is not in subnet %v or is the gateway", nw.ID, nw.NodeAddress, nw.Subnet)
	}
	return nil
}

// bridgeAddresses are the addresses of the network's bridge, the primary
// (the source of what the node sends) first.
func (nw Network) bridgeAddresses() []netip.Prefix {
	gw := netip.PrefixFrom(nw.Gateway, nw.Subnet.Bits())
	if nw.NodeAddress.IsValid() {
		return []netip.Prefix{netip.PrefixFrom(nw.NodeAddress, nw.Subnet.Bits()), gw}
	}
	return []netip.Prefix{gw}
}

// bridgeMAC is the MAC of the network's bridge: derived from the node's
// address on the network if it has one, for the frames other nodes send
// it, else from the gateway.
func (nw Network) bridgeMAC() net.HardwareAddr {
	if nw.NodeAddress.IsValid() {
		return macFor(nw.NodeAddress)
	}
	return macFor(nw.Gateway)
}

// bridgeName is the name of the bridge of the network with VNI vni.
func bridgeName(vni uint32) string { return bridgePrefix + strconv.FormatUint(uint64(vni), 10) }

// vxlanName is the name of the VXLAN device of the network with VNI vni.
func vxlanName(vni uint32) string { return vxlanPrefix + strconv.FormatUint(uint64(vni), 10) }

// vethName is the host-side name of a task's veth on a network.
func vethName(taskID, networkID string) string {
	sum := sha256.Sum256([]byte(taskID + "\x00" + networkID))
	return vethPrefix + hex.EncodeToString(sum[:6])
}

// macFor derives a MAC address from an IPv4 address as Docker does
// (02:42:a:b:c:d): locally administered, unicast, and the same on every
// node, so static neighbour entries never go stale.
func macFor(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

// Link aliases (IFLA_IFALIAS) say which network or task a link belongs to,
// so that a restarted agent finds its plumbing in the kernel.
const aliasTag = "shoal"

// bridgeAlias is the alias of a network's bridge.
func bridgeAlias(nw Network) string {
	internal := "0"
	if nw.Internal {
		internal = "1"
	}
	return aliasTag + " net=" + nw.ID + " internal=" + internal + " gw=" + nw.Gateway.String()
}

// vethAlias is the alias of a task's host-side veth.
func vethAlias(taskID, networkID string) string {
	return aliasTag + " task=" + taskID + " net=" + networkID
}

// parseAlias returns the key=value fields of one of our aliases, or nil if
// the alias is not ours.
func parseAlias(alias string) map[string]string {
	fields := strings.Fields(alias)
	if len(fields) < 2 || fields[0] != aliasTag {
		return nil
	}
	kv := make(map[string]string, len(fields)-1)
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil
		}
		kv[k] = v
	}
	return kv
}
