package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/shoalproject/shoal/internal/mesh"
	"github.com/shoalproject/shoal/internal/netagent"
	"github.com/shoalproject/shoal/internal/state"
)

// openNetworking opens the node's overlay networking, or returns nil and
// why when it cannot run here (not root, an address that is no IPv4
// VTEP): then containers stay on Docker's bridge and process tasks on
// the host's network, with no networks of their own, and the reason is
// logged once. A process task that names networks is then refused, with
// that reason (agent.Config.NetworksOff).
func openNetworking(addr string, log *slog.Logger) (*netagent.Agent, string) {
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
	n, err := netagent.New(netagent.Config{Mesh: mesh.Config{VTEP: vtep}, Logger: log})
	if err != nil {
		return nil, notIsolated(err.Error())
	}
	return n, ""
}

// followNetworkView gives the node's networking the cluster's state on
// every change of the store, until ctx ends: one rebuild per batch of
// changes, however many it holds.
func followNetworkView(ctx context.Context, store *state.Store, net *netagent.Agent, log *slog.Logger) {
	tx, sub := store.Subscribe()
	defer sub.Close()
	for {
		v := netagent.View{Networks: tx.Networks(), Services: tx.Services(), Tasks: tx.Tasks()}
		if err := net.SetView(v); err != nil {
			log.Warn("cluster view not applied to the node's networking in full", "err", err)
		}
		if _, err := sub.Next(ctx); err != nil {
			return
		}
		tx = store.Read()
	}
}
