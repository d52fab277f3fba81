package dispatcher

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

var (
	// ErrNodeRemoved refuses a registration of a node an operator
	// removed: its agent stops its tasks and gives up. It is the state's
	// refusal (the removal is in Raft, so every manager refuses it).
	ErrNodeRemoved = state.ErrRemoved
	// ErrNodeNotDown refuses removing a node that is up without force.
	ErrNodeNotDown = errors.New("node is not down")
	// ErrNodeIsManager refuses removing a manager.
	ErrNodeIsManager = errors.New("node is a manager")
)

// RemoveNode deletes node id from the cluster, freeing its place in the
// node table. A node that is up is refused (ErrNodeNotDown) unless force
// is set; then its sessions end and its agent, registering again, is
// refused with ErrNodeRemoved. A manager is refused (ErrNodeIsManager).
// The node's tasks are the orchestrator's to replace: their node is gone.
func (d *Dispatcher) RemoveNode(ctx context.Context, id string, force bool) error {
	// Held for writing: no registration of this node runs meanwhile, so
	// none can bring it back between the check and the removal.
	d.regMu.Lock()
	defer d.regMu.Unlock()
	n := d.Store.Read().Node(id)
	if n == nil {
		return fmt.Errorf("node %s: %w", id, state.ErrNotFound)
	}
	if n.Spec.Role == api.RoleManager {
		return fmt.Errorf("node %s: %w", id, ErrNodeIsManager)
	}
	if n.Status.State != api.NodeStateDown && !force {
		return fmt.Errorf("node %s: %w", id, ErrNodeNotDown)
	}
	res, err := d.Proposer.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpRemoveNode, ID: id}}})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("remove node %s: %w", id, err)
	}
	d.mu.Lock()
	if h := d.beats[id]; h != nil {
		h.stop()
		delete(d.beats, id)
	}
	for s := range d.sessions {
		if s.nodeID == id {
			s.cancel()
		}
	}
	d.mu.Unlock()
	d.logger().Info("node removed", "node", id, "hostname", n.Description.Hostname, "force", force)
	return nil
}
