package manager

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/state"
)

// Limits on a node's operator labels: they live in Raft with the node.
const (
	maxNodeLabels     = 64
	maxNodeLabelKey   = 128
	maxNodeLabelValue = 256
)

// UpdateNode sets the spec of the node ref names: its availability and
// its operator labels (what node.labels.KEY constraints match). The role
// cannot change here. version, when not zero, must be the node's current
// Version.
func (m *Manager) UpdateNode(ctx context.Context, ref string, version uint64, spec api.NodeSpec) (*api.Node, error) {
	if err := m.writable(ctx); err != nil {
		return nil, err
	}
	cur, err := m.store.Read().FindNode(ref)
	if err != nil {
		return nil, err
	}
	if spec.Role == "" {
		spec.Role = cur.Spec.Role
	}
	if spec.Role != cur.Spec.Role {
		return nil, fmt.Errorf("%w: node %s: the role cannot be changed by an update", ErrInvalid, ref)
	}
	switch spec.Availability {
	case api.AvailabilityActive, api.AvailabilityPause, api.AvailabilityDrain:
	case "":
		spec.Availability = cur.Spec.Availability
	default:
		return nil, fmt.Errorf("%w: invalid availability %q: want active, pause or drain", ErrInvalid, spec.Availability)
	}
	if len(spec.Labels) > maxNodeLabels {
		return nil, fmt.Errorf("%w: node %s: %d labels, at most %d", ErrInvalid, ref, len(spec.Labels), maxNodeLabels)
	}
	for k, v := range spec.Labels {
		if k == "" || len(k) > maxNodeLabelKey || len(v) > maxNodeLabelValue {
			return nil, fmt.Errorf("%w: node %s: label %.32q: want a key of 1 to %d bytes and a value of at most %d", ErrInvalid, ref, k, maxNodeLabelKey, maxNodeLabelValue)
		}
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpNodeSpec, ID: cur.ID, ExpectVersion: version, NodeSpec: &spec}}})
	if err == nil {
		err = res.Err
	}
	switch {
	case err == nil:
		return m.store.Read().Node(cur.ID), nil
	case errors.Is(err, state.ErrVersionConflict):
		return nil, fmt.Errorf("%w: %w", ErrConflict, err)
	case errors.Is(err, state.ErrNotFound):
		return nil, err
	}
	return nil, fmt.Errorf("update node %s: %w", ref, err)
}

// RemoveNode removes the node ref names from the cluster. A node that is
// not down needs force; then its agent is refused and stops its tasks. A
// manager (by its role, or still a Raft member) cannot be removed, even
// with force, as in Swarm: it is demoted first (DemoteNode).
func (m *Manager) RemoveNode(ctx context.Context, ref string, force bool) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	cur, err := m.store.Read().FindNode(ref)
	if err != nil {
		return err
	}
	members, err := m.raft.Members()
	if err != nil {
		return fmt.Errorf("remove node %s: %w", ref, err)
	}
	for _, mb := range members {
		if mb.ID == cur.ID {
			return managerRemoveError(ref)
		}
	}
	err = m.dispatcher.RemoveNode(ctx, cur.ID, force)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dispatcher.ErrNodeNotDown):
		return fmt.Errorf("%w: node %s is not down and can't be removed (--force removes it anyway: its agent then stops its tasks)", ErrConflict, ref)
	case errors.Is(err, dispatcher.ErrNodeIsManager):
		return managerRemoveError(ref)
	case errors.Is(err, state.ErrNotFound):
		return err
	}
	return err
}

// managerRemoveError refuses removing a manager, as Swarm does.
func managerRemoveError(ref string) error {
	return fmt.Errorf("%w: node %s is a cluster manager and a member of the raft cluster: it must be demoted to worker before removal (`shoal node demote %s`; --force does not change this)", ErrConflict, ref, ref)
}
