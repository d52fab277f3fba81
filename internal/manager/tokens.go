package manager

import (
	"context"
	"encoding/json"
	"errors"
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
	return m.openTokens(m.store.Read().JoinTokens())
}

func (m *Manager) openTokens(sealed []byte) (jt JoinTokens, ok bool, err error) {
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

// SetJoinTokens stores jt as the cluster's join tokens.
func (m *Manager) SetJoinTokens(ctx context.Context, jt JoinTokens) error {
	return m.UpdateJoinTokens(ctx, func(JoinTokens, bool) (JoinTokens, error) { return jt, nil })
}

// tokenAttempts bounds the retries of a join token change that lost a
// race with another.
const tokenAttempts = 5

// UpdateJoinTokens stores change(current) as the cluster's join tokens,
// sealed with the cluster secrets key: every manager admits by them from
// the index it is written at. ok says Raft holds tokens (see JoinTokens).
// The write is a compare-and-set on the tokens change read: should
// another change come first (a rotation of the other role, through
// another leader), change runs again on the new ones, so neither undoes
// the other. The ops also are written in the same command, or not at
// all (the end of a CA rotation, whose tokens name the new root).
func (m *Manager) UpdateJoinTokens(ctx context.Context, change func(cur JoinTokens, ok bool) (JoinTokens, error), also ...state.Op) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		read := m.store.Read().JoinTokens()
		cur, ok, err := m.openTokens(read)
		if err != nil {
			return err
		}
		next, err := change(cur, ok)
		if err != nil {
			return err
		}
		plain, err := json.Marshal(next)
		if err != nil {
			return err
		}
		sealed, err := m.secretKey.Seal(plain, joinTokensContext)
		if err != nil {
			return err
		}
		op := state.Op{Kind: state.OpSetJoinTokens, Tokens: sealed, CheckTokens: true, ExpectTokens: read}
		res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: append([]state.Op{op}, also...)})
		if err != nil {
			return fmt.Errorf("store the join tokens: %w", err)
		}
		if errors.Is(res.Err, state.ErrVersionConflict) && attempt < tokenAttempts && ctx.Err() == nil {
			continue
		}
		if errors.Is(res.Err, state.ErrVersionConflict) {
			return fmt.Errorf("%w: store the join tokens: %w", ErrConflict, res.Err)
		}
		if res.Err != nil {
			return fmt.Errorf("store the join tokens: %w", res.Err)
		}
		return nil
	}
}

// SetCertExpiry sets the life of the node certificates every manager
// issues from now on (`swarm update --cert-expiry`): joins, renewals
// and the managers' own certificates. Nodes get it at their next
// renewal, as in Swarm.
func (m *Manager) SetCertExpiry(ctx context.Context, d time.Duration) error {
	if err := ca.CheckExpiry(d); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := m.writable(ctx); err != nil {
		return err
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

// SetRootCA writes a step of a CA rotation (`swarm ca --rotate`), if
// the stored CA is still at the step expect names (nil: none stored);
// else ErrConflict.
func (m *Manager) SetRootCA(ctx context.Context, in, expect *state.RootCA) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpSetRootCA, CA: in, ExpectCA: expect}}})
	if err != nil {
		return fmt.Errorf("store the cluster CA: %w", err)
	}
	if errors.Is(res.Err, state.ErrVersionConflict) {
		return fmt.Errorf("%w: store the cluster CA: %w", ErrConflict, res.Err)
	}
	if res.Err != nil {
		return fmt.Errorf("store the cluster CA: %w", res.Err)
	}
	return nil
}
