package daemon

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/shoalproject/shoal/internal/mesh"
	"github.com/shoalproject/shoal/internal/netagent"
)

// openNetworking opens the node's overlay networking, or returns nil and
// why when it cannot run here (not root, an address that is no IPv4
// VTEP; for a worker, remote, a loopback address): then containers stay
// on Docker's bridge and process tasks on the host's network, with no
// networks of their own, and the reason is logged once. A process task
// that names networks is then refused, with that reason
// (agent.Config.NetworksOff).
//
// A worker on a loopback address shares its machine, and so its network
// namespace, with the manager or other nodes: the kernel's plumbing is one
// node's (each adopts and prunes what it finds), and no other machine can
// send it VXLAN.
func openNetworking(addr string, remote bool, log *slog.Logger) (*netagent.Agent, string) {
	notIsolated := func(why string) string {
		log.Warn("networks are not isolated: containers run on Docker's default bridge and process tasks on the host's network, and they cannot resolve each other by name; a process service that names networks fails", "reason", why)
		return why
	}
	if os.Geteuid() != 0 {
		return nil, notIsolated("overlay networks need root (network namespaces, links, nftables)")
	}
	vtep, err := netip.ParseAddr(addr)
	if err != nil || !vtep.Is4() {
		return nil, notIsolated(fmt.Sprintf("the node address %q is not an IPv4 address", addr))
	}
	if remote && vtep.IsLoopback() {
		return nil, notIsolated(fmt.Sprintf("the node address %s is a loopback address: other nodes cannot reach its VXLAN port, "+
			"and nodes sharing one network namespace would remove each other's plumbing; give the agent an --addr other nodes reach", addr))
	}
	n, err := netagent.New(netagent.Config{Mesh: mesh.Config{VTEP: vtep}, Logger: log})
	if err != nil {
		return nil, notIsolated(err.Error())
	}
	return n, ""
}
