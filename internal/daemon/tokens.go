package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/manager"
)

// joinTokens are a manager's view of the cluster's join tokens. Until a
// token is rotated, every manager holds the same two in its data folder
// (made at the bootstrap, handed over the join); a rotation stores both
// in Raft, sealed with the cluster secrets key, and from then on Raft's
// are the current ones on every manager.
type joinTokens struct {
	// local are the tokens in the data folder.
	local ca.JoinTokens
	// ready says this manager's store has caught up with the log as it
	// stood at the manager's start (its own registration is applied), so
	// a rotation made while it was down is known: joins wait for it.
	ready atomic.Bool
	// rotate makes one rotation at a time on the leader, so two
	// concurrent ones (worker and manager) do not undo each other.
	rotate sync.Mutex
}

// currentTokens returns the join tokens that admit now.
func (d *Dev) currentTokens() (ca.JoinTokens, error) {
	if !d.tokens.ready.Load() {
		return ca.JoinTokens{}, fmt.Errorf("%w: this manager is starting (catching up with the cluster): try again in a moment", ca.ErrTokensUnavailable)
	}
	return d.clusterTokens()
}

// clusterTokens returns Raft's tokens, else the data folder's.
func (d *Dev) clusterTokens() (ca.JoinTokens, error) {
	stored, ok, err := d.mgr.JoinTokens()
	if err != nil {
		return ca.JoinTokens{}, fmt.Errorf("%w: %w", ca.ErrTokensUnavailable, err)
	}
	if !ok {
		return d.tokens.local, nil
	}
	var jt ca.JoinTokens
	if jt.Worker, err = ca.ParseToken(stored.Worker); err == nil {
		jt.Manager, err = ca.ParseToken(stored.Manager)
	}
	if err != nil {
		return ca.JoinTokens{}, fmt.Errorf("%w: the cluster's join tokens: %w", ca.ErrTokensUnavailable, err)
	}
	return jt, nil
}

// swarmInfo answers GET /v1/swarm: the current join tokens and where
// nodes join this manager.
func (d *Dev) swarmInfo() (*api.Swarm, error) {
	jt, err := d.clusterTokens()
	if err != nil {
		return nil, err
	}
	p := rotationProgress(d.mgr.Store().Read())
	return &api.Swarm{JoinTokens: api.JoinTokens{Worker: jt.Worker.String(), Manager: jt.Manager.String()}, AgentAddr: d.agentAddr,
		TLSInfo: api.TLSInfo{TrustRoot: string(d.issuer.CA().Trust.CertPEM)}, RootRotationInProgress: p != nil, CARotation: p}, nil
}

// rotateJoinToken gives role ("worker" or "manager") a new join token,
// on the leader (the API forwards writes to it): the old one then admits
// nobody, on any manager; nodes that joined keep their certificates.
func (d *Dev) rotateJoinToken(ctx context.Context, role string) error {
	d.tokens.rotate.Lock()
	defer d.tokens.rotate.Unlock()
	cur, err := d.clusterTokens()
	if err != nil {
		return err
	}
	next, err := cur.Rotate(d.issuer.CA().Token, ca.Role(role))
	if err != nil {
		return fmt.Errorf("%w: %w", manager.ErrInvalid, err)
	}
	if err := d.mgr.SetJoinTokens(ctx, manager.JoinTokens{Worker: next.Worker.String(), Manager: next.Manager.String()}); err != nil {
		return err
	}
	d.log.Info("join token rotated", "role", role)
	return nil
}

// ManagerToken is the token managers join with ("" while the tokens
// cannot be read).
func (d *Dev) ManagerToken() string {
	jt, err := d.currentTokens()
	if err != nil {
		return ""
	}
	return jt.Manager.String()
}

// JoinToken is the token agents of other nodes join with.
// It is "" while the tokens cannot be read.
func (d *Dev) JoinToken() string {
	jt, err := d.currentTokens()
	if err != nil {
		return ""
	}
	return jt.Worker.String()
}
