package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/state"
)

// joinTokensContext is what the join tokens are sealed under in Raft.
const joinTokensContext = "cluster/join-tokens"

// JoinTokens are the cluster's written join tokens as Raft keeps them.
type JoinTokens struct {
	Worker  string `json:"worker"`
	Manager string `json:"manager"`
}

// JoinTokens returns the join tokens stored in Raft; ok is false before
// the first rotation, when the manager's own copy (bootstrap or join) is
// the current one.
func (m *Manager) JoinTokens() (jt JoinTokens, ok bool, err error) {
	sealed := m.store.Read().JoinTokens()
	if sealed == nil {
		return JoinTokens{}, false, nil
	}
	plain, err := m.secretKey.Open(sealed, joinTokensContext)
	if err != nil {
		return JoinTokens{}, false, fmt.Errorf("open the cluster's join tokens: %w (was this manager's secret key replaced?)", err)
	}
	if err := json.Unmarshal(plain, &jt); err != nil {
		return JoinTokens{}, false, fmt.Errorf("read the cluster's join tokens: %w", err)
	}
	return jt, true, nil
}

// SealJoinTokens returns jt sealed as Raft keeps them (OpSetJoinTokens,
// or with the last step of a CA rotation).
func (m *Manager) SealJoinTokens(jt JoinTokens) ([]byte, error) {
	plain, err := json.Marshal(jt)
	if err != nil {
		return nil, err
	}
	return m.secretKey.Seal(plain, joinTokensContext)
}

// SetJoinTokens stores jt, sealed with the cluster secrets key, as the
// cluster's join tokens: every manager admits by them from the index it
// is written at.
func (m *Manager) SetJoinTokens(ctx context.Context, jt JoinTokens) error {
	sealed, err := m.SealJoinTokens(jt)
	if err != nil {
		return err
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpSetJoinTokens, Tokens: sealed}}})
	if err != nil {
		return fmt.Errorf("store the join tokens: %w", err)
	}
	if res.Err != nil {
		return fmt.Errorf("store the join tokens: %w", res.Err)
	}
	return nil
}

// SetCertExpiry sets the life of the node certificates every manager
// issues from now on (`swarm update --cert-expiry`): joins, renewals
// and the managers' own certificates. Nodes get it at their next
// renewal, as in Swarm.
func (m *Manager) SetCertExpiry(ctx context.Context, d time.Duration) error {
	if err := ca.CheckExpiry(d); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpSetCertExpiry, CertExpiry: d}}})
	if err != nil {
		return fmt.Errorf("set the certificate expiry: %w", err)
	}
	if res.Err != nil {
		return fmt.Errorf("set the certificate expiry: %w", res.Err)
	}
	return nil
}
