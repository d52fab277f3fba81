package dispatcher

import (
	"errors"
	"fmt"
	"net"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// DefaultMaxNodes bounds the node table: registrations of new node IDs
// beyond it reuse the record of a down worker that has no task, or are
// refused.
const DefaultMaxNodes = 1000

// Limits on what a node says of itself: the description is stored in Raft
// and kept in memory for as long as the node exists.
const (
	maxHostname    = 253
	maxNameField   = 64 // platform OS and architecture, runtime names
	maxRuntimes    = 16
	maxUnsupported = 16
	maxLabels      = 64
	maxLabelKey    = 128
	maxLabelValue  = 256
	maxAddrLength  = 253
	maxDescription = "session 64 bytes, hostname 253 bytes, OS, architecture, engine version, runtime and feature names 64, 16 runtimes, 16 unsupported features, 64 labels with keys of 128 bytes and values of 256"
)

var (
	// ErrInvalidRegistration refuses a registration that says too much.
	ErrInvalidRegistration = errors.New("invalid registration")
	// ErrTooManyNodes refuses a new node while the node table is full of
	// nodes that are up or run tasks.
	ErrTooManyNodes = errors.New("too many nodes")
)

func (d *Dispatcher) maxNodes() int {
	if d.MaxNodes > 0 {
		return d.MaxNodes
	}
	return DefaultMaxNodes
}

// checkRegistration refuses a registration whose fields are beyond the
// limits.
func checkRegistration(reg api.NodeRegistration) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s (limits: %s)", ErrInvalidRegistration, fmt.Sprintf(format, args...), maxDescription)
	}
	desc := reg.Description
	switch {
	case len(reg.Addr) > maxAddrLength:
		return bad("address of %d bytes", len(reg.Addr))
	case len(reg.Session) > api.MaxSession:
		return bad("session of %d bytes", len(reg.Session))
	case len(desc.Hostname) > maxHostname:
		return bad("hostname of %d bytes", len(desc.Hostname))
	case len(desc.Platform.OS) > maxNameField || len(desc.Platform.Architecture) > maxNameField || len(desc.EngineVersion) > maxNameField:
		return bad("platform name or engine version too long")
	case len(desc.Runtimes) > maxRuntimes:
		return bad("%d runtimes", len(desc.Runtimes))
	case len(desc.Unsupported) > maxUnsupported:
		return bad("%d unsupported features", len(desc.Unsupported))
	case len(desc.EngineLabels) > maxLabels:
		return bad("%d labels", len(desc.EngineLabels))
	case len(desc.ListenAddr) > maxAddrLength:
		return bad("listen address of %d bytes", len(desc.ListenAddr))
	}
	if desc.ListenAddr != "" {
		if _, _, err := net.SplitHostPort(desc.ListenAddr); err != nil {
			return fmt.Errorf("%w: listen address %q: want IP:PORT", ErrInvalidRegistration, desc.ListenAddr)
		}
	}
	for _, r := range desc.Runtimes {
		if len(r) > maxNameField {
			return bad("runtime name of %d bytes", len(r))
		}
	}
	for _, f := range desc.Unsupported {
		if len(f) > maxNameField {
			return bad("feature name of %d bytes", len(f))
		}
	}
	for k, v := range desc.EngineLabels {
		if len(k) > maxLabelKey || len(v) > maxLabelValue {
			return bad("label %.32q too long", k)
		}
	}
	return nil
}

// admitOps returns the ops that record a registering node: the node
// itself, and, when it is new and the table is full, the removal of the
// down worker without tasks that was heard from last the longest ago. A
// flood of registrations with new IDs therefore recycles its own dead
// records instead of growing the table, and a real node can still join
// after one. Without such a worker to remove, it returns ErrTooManyNodes.
// d.regMu must be held for writing when the node is new, so that two
// registrations don't pick the same record or fill the last place twice,
// and a node being removed is not registering.
func (d *Dispatcher) admitOps(tx *state.ReadTx, node *api.Node, isNew bool) ([]state.Op, error) {
	ops := []state.Op{{Kind: state.OpRegisterNode, Node: node}}
	nodes := tx.Nodes()
	if !isNew || len(nodes) < d.maxNodes() {
		return ops, nil
	}
	var victim *api.Node
	for _, n := range nodes {
		if n.Status.State == api.NodeStateReady || n.Spec.Role != api.RoleWorker || len(tx.TasksByNode(n.ID)) > 0 || d.hasSession(n.ID) {
			continue
		}
		if victim == nil || n.Status.LastHeartbeat.Before(victim.Status.LastHeartbeat) {
			victim = n
		}
	}
	if victim == nil {
		return nil, fmt.Errorf("the cluster has %d nodes, the most it admits, and none of them is a down worker without tasks "+
			"whose place a new node could take: %w", len(nodes), ErrTooManyNodes)
	}
	d.logger().Info("node table full: a new node takes the place of a down worker without tasks", "new", node.ID, "removed", victim.ID,
		"removed_hostname", victim.Description.Hostname, "last_heartbeat", victim.Status.LastHeartbeat)
	return append([]state.Op{{Kind: state.OpDeleteNode, ID: victim.ID}}, ops...), nil
}

// hasSession reports whether a session of the node is open.
func (d *Dispatcher) hasSession(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for s := range d.sessions {
		if s.nodeID == id {
			return true
		}
	}
	return false
}
