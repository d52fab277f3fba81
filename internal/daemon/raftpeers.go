package daemon

import (
	"fmt"

	"github.com/shoalproject/shoal/api"
)

// raftPeer says whether the manager node id may speak Raft with this
// one: a certificate of the cluster is not enough, since a demoted or
// removed manager keeps a valid one until it expires, and hashicorp/raft
// takes AppendEntries, InstallSnapshot and TimeoutNow from any peer.
// Allowed: a server of the newest Raft configuration, or a node the
// cluster records as a manager; never a removed node. A manager that is
// joining and has no configuration yet accepts any manager of the
// cluster: it knows no other, and the leader's first AppendEntries
// brings the configuration.
func (d *Dev) raftPeer(id string) error {
	tx := d.mgr.Store().Read()
	if tx.NodeRemoved(id) {
		return fmt.Errorf("node %s was removed from the cluster", id)
	}
	in, empty := d.mgr.Raft().InConfiguration(id)
	if in || empty {
		return nil
	}
	if n := tx.Node(id); n != nil && n.Spec.Role == api.RoleManager {
		return nil
	}
	return fmt.Errorf("node %s is not a manager of the cluster (demoted, or never added to Raft)", id)
}
