package manager

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/state"
)

// DemoteNode makes the manager ref names a worker: it leaves the Raft
// group, one change, and its node's role becomes worker. The change is
// refused when the managers left that are up would not be a majority of
// those left (Swarm's "loss of quorum"), and for the last manager. The
// leader demoting itself hands the leadership over first and answers
// cluster.ErrNotWritten, so that the API sends the request on to the new
// leader, which removes it.
func (m *Manager) DemoteNode(ctx context.Context, ref string) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	tx := m.store.Read()
	n, err := tx.FindNode(ref)
	if errors.Is(err, state.ErrNotFound) {
		return m.removeNonvoter(ref, err)
	}
	if err != nil {
		return err
	}
	members, err := m.raft.Members()
	if err != nil {
		return err
	}
	inRaft := false
	for _, mb := range members {
		inRaft = inRaft || mb.ID == n.ID
	}
	nonvoter, err := m.raft.Nonvoter(n.ID)
	if err != nil {
		return err
	}
	if n.Spec.Role != api.RoleManager && !inRaft && !nonvoter {
		return fmt.Errorf("%w: node %s is already a worker", ErrConflict, ref)
	}
	// (A node recorded as a worker but still in Raft is a demotion that
	// stopped half-way: it is finished here.)
	if inRaft {
		if len(members) == 1 {
			return fmt.Errorf("%w: attempting to demote the last manager of the swarm", ErrConflict)
		}
		// The managers left must still reach a majority of themselves.
		up := 0
		for _, mb := range members {
			if mb.ID == n.ID {
				continue
			}
			if mn := tx.Node(mb.ID); mb.ID == m.cfg.NodeID || (mn != nil && mn.Status.State == api.NodeStateReady) {
				up++
			}
		}
		if left := len(members) - 1; up < left/2+1 {
			return fmt.Errorf("%w: can't demote node %s: this would result in a loss of quorum (%d of the %d managers left are up)", ErrConflict, ref, up, left)
		}
		if n.ID == m.cfg.NodeID {
			if err := m.raft.TransferLeadership(); err != nil {
				return err
			}
			return fmt.Errorf("%w: %w: leadership handed over before this manager is demoted", cluster.ErrNotLeader, cluster.ErrNotWritten)
		}
	}
	// The record first: from this write on, the managers' paths refuse
	// the node (requireManager), so it cannot add itself back to Raft
	// between its removal and its new role.
	if n.Spec.Role == api.RoleManager {
		spec := n.Spec
		spec.Role = api.RoleWorker
		res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpNodeSpec, ID: n.ID, NodeSpec: &spec, ExpectVersion: n.Version}}})
		if err == nil {
			err = res.Err
		}
		if err != nil {
			return fmt.Errorf("demote node %s: %w", ref, err)
		}
	}
	if inRaft || nonvoter {
		if err := m.raft.RemoveServer(n.ID); err != nil {
			return fmt.Errorf("demote node %s: recorded as a worker, but its removal from raft failed (run node demote again): %w", ref, err)
		}
		m.log.Info("manager left raft", "node", n.ID, "voter", inRaft)
	}
	return nil
}

// PromoteNode records the worker ref names as a manager (Swarm's desired
// role). Raft is not changed here: the node's agent learns its new role
// from its session, renews its certificate as a manager and starts a
// manager, which asks the leader to add it (a non-voter first, a voter
// once it has caught up), one change at a time. Refused for an unknown
// node, a node that is already a manager, one that is not up (its agent
// must start the manager), and one whose agent has no cluster port to
// serve (`shoal agent --listen-addr`).
func (m *Manager) PromoteNode(ctx context.Context, ref string) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	tx := m.store.Read()
	n, err := tx.FindNode(ref)
	if err != nil {
		return err
	}
	switch {
	case n.Spec.Role == api.RoleManager:
		return fmt.Errorf("%w: node %s is already a manager", ErrConflict, ref)
	case n.Status.State != api.NodeStateReady:
		return fmt.Errorf("%w: node %s is %s: only a node that is up can be promoted (its agent starts the manager)", ErrConflict, ref, n.Status.State)
	case n.Description.ListenAddr == "":
		return fmt.Errorf("%w: node %s can't be promoted: its agent was started without --listen-addr, so it has no cluster port to serve "+
			"as a manager; restart it with `shoal agent --listen-addr IP:PORT` (the other managers and the agents must reach it there) and promote it again", ErrConflict, ref)
	}
	spec := n.Spec
	spec.Role = api.RoleManager
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpNodeSpec, ID: n.ID, NodeSpec: &spec, ExpectVersion: n.Version}}})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("promote node %s: %w", ref, err)
	}
	m.log.Info("node promoted", "node", n.ID)
	return nil
}

// removeNonvoter removes from Raft the non-voter id, a manager that joined
// and failed before its node registered (so it has no node to demote), or
// answers notFound.
func (m *Manager) removeNonvoter(id string, notFound error) error {
	nv, err := m.raft.Nonvoter(id)
	if err != nil {
		return err
	}
	if !nv {
		return notFound
	}
	if err := m.raft.RemoveServer(id); err != nil {
		return err
	}
	m.log.Info("non-voting manager that never started left raft", "node", id)
	return nil
}
