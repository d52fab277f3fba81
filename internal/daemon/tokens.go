package daemon

import (
	"context"
	"fmt"
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
	return d.parseTokens(stored, ok)
}

// parseTokens returns the tokens Raft holds (stored, when ok), else the
// data folder's.
func (d *Dev) parseTokens(stored manager.JoinTokens, ok bool) (ca.JoinTokens, error) {
	if !ok {
		return d.tokens.local, nil
	}
	var jt ca.JoinTokens
	var err error
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
	tx := d.mgr.Store().Read()
	p := rotationProgress(tx)
	return &api.Swarm{JoinTokens: api.JoinTokens{Worker: jt.Worker.String(), Manager: jt.Manager.String()}, AgentAddr: d.agentAddr,
		TLSInfo: api.TLSInfo{TrustRoot: string(d.issuer.CA().Trust.CertPEM)}, RootRotationInProgress: p != nil, CARotation: p,
		Autolock: tx.Autolock().On}, nil
}

// rotateJoinToken gives role ("worker" or "manager") a new join token,
// on the leader (the API forwards writes to it): the old one then admits
// nobody, on any manager; nodes that joined keep their certificates. The
// other role's token is kept as Raft holds it when the rotation commits
// (manager.UpdateJoinTokens), whichever manager rotated it last.
func (d *Dev) rotateJoinToken(ctx context.Context, role string) error {
	err := d.mgr.UpdateJoinTokens(ctx, func(stored manager.JoinTokens, ok bool) (manager.JoinTokens, error) {
		cur, err := d.parseTokens(stored, ok)
		if err != nil {
			return manager.JoinTokens{}, err
		}
		next, err := cur.Rotate(d.issuer.CA().Token, ca.Role(role))
		if err != nil {
			return manager.JoinTokens{}, fmt.Errorf("%w: %w", manager.ErrInvalid, err)
		}
		// Both name the root the stored tokens name: the end of a CA
		// rotation may have changed them before this manager's CA moved.
		next.Worker.Digest, next.Manager.Digest = cur.Worker.Digest, cur.Manager.Digest
		return manager.JoinTokens{Worker: next.Worker.String(), Manager: next.Manager.String()}, nil
	})
	if err != nil {
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
