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
