package manager

import (
	"context"
	"encoding/json"
	"fmt"

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

// SetJoinTokens stores jt, sealed with the cluster secrets key, as the
// cluster's join tokens: every manager admits by them from the index it
// is written at.
func (m *Manager) SetJoinTokens(ctx context.Context, jt JoinTokens) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	plain, err := json.Marshal(jt)
	if err != nil {
		return err
	}
	sealed, err := m.secretKey.Seal(plain, joinTokensContext)
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
