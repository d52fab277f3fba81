//go:build linux

package netagent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/shoalproject/shoal/internal/mesh"
)

// Peers returns, per network ID, the tasks of the view on it that live on
// other nodes, each with its address and its node's VTEP, sorted by
// address: what each network's VXLAN device must know (mesh.SetPeers).
//
// A node's VTEP is the address the managers hold for it
// (Node.Status.Addr), which they take only from the source address of the
// node's own authenticated connection: no node names another's. Tasks on
// vtep itself are left out (the bridge reaches them), and so are tasks
// that ended, tasks of a node with no valid IPv4 address or a loopback one
// (no other machine's VTEP: it would put 127.0.0.1 among the addresses
// this node takes VXLAN from, which every local user can send from), and
// a second task with an address already listed (the first one keeps it).
func Peers(v View, vtep netip.Addr) map[string][]mesh.RemoteEndpoint {
	nodes := map[string]netip.Addr{}
	for _, n := range v.Nodes {
		if a, err := netip.ParseAddr(n.Status.Addr); err == nil && a.Unmap().Is4() && !a.Unmap().IsLoopback() {
			nodes[n.ID] = a.Unmap()
		}
	}
	out := map[string][]mesh.RemoteEndpoint{}
	seen := map[string]map[netip.Addr]bool{}
	for _, t := range v.Tasks {
		node, ok := nodes[t.NodeID]
		if !ok || node == vtep || !live(t) {
			continue
		}
		for _, na := range t.NetworksAttachments {
			if len(na.Addresses) == 0 {
				continue
			}
			p, err := netip.ParsePrefix(na.Addresses[0])
			if err != nil || !p.Addr().Is4() {
				continue
			}
			id := na.Network.ID
			if seen[id] == nil {
				seen[id] = map[netip.Addr]bool{}
			}
			if seen[id][p.Addr()] {
				continue
			}
			seen[id][p.Addr()] = true
			out[id] = append(out[id], mesh.RemoteEndpoint{TaskIP: p.Addr(), NodeAddr: node})
		}
	}
	for _, eps := range out {
		slices.SortFunc(eps, func(a, b mesh.RemoteEndpoint) int { return a.TaskIP.Compare(b.TaskIP) })
	}
	return out
}

// peerKey renders a network's peers, to tell whether they changed.
func peerKey(eps []mesh.RemoteEndpoint) string {
	var b strings.Builder
	for _, e := range eps {
		fmt.Fprintf(&b, "%s@%s ", e.TaskIP, e.NodeAddr)
	}
	return b.String()
}

// syncPeers programs the remote tasks of the view on each given network of
// the node whose peers changed since they were last written. It is called
// with a.mu held.
func (a *Agent) syncPeers(networks []string) error {
	all := Peers(a.view, a.vtep)
	var errs []error
	for _, id := range networks {
		key := peerKey(all[id])
		if k, ok := a.peers[id]; ok && k == key {
			continue
		}
		if err := a.node.SetPeers(id, all[id]); err != nil {
			delete(a.peers, id)
			errs = append(errs, err)
			continue
		}
		a.peers[id] = key
	}
	return errors.Join(errs...)
}

// syncAllPeers is syncPeers for every network on the node.
func (a *Agent) syncAllPeers() error {
	obs, err := a.node.Observe()
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(obs.Networks))
	for _, nw := range obs.Networks {
		ids = append(ids, nw.ID)
	}
	return a.syncPeers(ids)
}
