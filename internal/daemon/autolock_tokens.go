package daemon

import (
	"context"

	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/manager"
)

// Under autolock, the join tokens must not sit in clear in the data
// folders either: the manager token admits a manager, which is handed
// the secrets key. Before autolock turns on, the leader stores the
// current tokens in Raft, sealed (tokensToRaft), which makes Raft's the
// ones that admit on every manager; each manager then replaces its
// folder's copies by tokens that admit nobody (scrubTokens). The
// operator sees no change of tokens.

// tokensToRaft stores the join tokens in Raft if they are still only in
// the managers' folders (never rotated).
func (d *Dev) tokensToRaft(ctx context.Context) error {
	if _, ok, err := d.mgr.JoinTokens(); err != nil || ok {
		return err
	}
	// A compare-and-set: a rotation that lands first is kept.
	return d.mgr.UpdateJoinTokens(ctx, func(cur manager.JoinTokens, ok bool) (manager.JoinTokens, error) {
		if ok {
			return cur, nil
		}
		jt := d.tokens.local
		return manager.JoinTokens{Worker: jt.Worker.String(), Manager: jt.Manager.String()}, nil
	})
}

// scrubTokens replaces, once, the folder's copies of the join tokens by
// decoys, when Raft holds the cluster's.
func (d *Dev) scrubTokens() error {
	if d.lock.scrubbed.Load() {
		return nil
	}
	if _, ok, err := d.mgr.JoinTokens(); err != nil || !ok {
		return err
	}
	// The root the tokens name now: after a CA rotation, not the
	// bootstrap's (a later start would take decoys of another root for a
	// stale token and warn).
	if err := d.writeDecoyTokens(d.issuer.CA().Token); err != nil {
		return err
	}
	d.lock.scrubbed.Store(true)
	d.log.Info("autolock: the join tokens in the data folder were replaced by ones that admit nobody (the cluster's are in Raft, sealed)")
	return nil
}

// writeDecoyTokens writes new tokens of root in the folder's token
// files: they keep marking a folder that holds a cluster and parse as
// tokens of its CA, but Raft's tokens are the ones that admit.
func (d *Dev) writeDecoyTokens(root *ca.RootCA) error {
	jt, err := ca.NewJoinTokens(root)
	if err != nil {
		return err
	}
	if err := writePrivate(d.dir.Join(managerTokenFile), []byte(jt.Manager.String()+"\n")); err != nil {
		return err
	}
	return writePrivate(d.dir.Join("join-token"), []byte(jt.Worker.String()+"\n"))
}
