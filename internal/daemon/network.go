package daemon

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/shoalproject/shoal/internal/mesh"
	"github.com/shoalproject/shoal/internal/netagent"
)

// openNetworking opens the node's overlay networking, or returns nil when
// it cannot run here (not root, an address that is no IPv4 VTEP): then
// containers stay on Docker's bridge with no networks of their own, and
// the reason is logged once.
func openNetworking(addr string, log *slog.Logger) *netagent.Agent {
	notIsolated := func(why string) {
		log.Warn("networks are not isolated: tasks run on Docker's default bridge and cannot resolve each other by name", "reason", why)
	}
	if os.Geteuid() != 0 {
		notIsolated("overlay networks need root (network namespaces, links, nftables)")
		return nil
	}
	vtep, err := netip.ParseAddr(addr)
	if err != nil || !vtep.Is4() {
		notIsolated(fmt.Sprintf("the node address %q is not an IPv4 address", addr))
		return nil
	}
	n, err := netagent.New(netagent.Config{Mesh: mesh.Config{VTEP: vtep}, Logger: log})
	if err != nil {
		notIsolated(err.Error())
		return nil
	}
	return n
}
