package manager

import (
	"context"
	"fmt"

	"github.com/shoalproject/shoal/internal/state"
)

// SetAutolock stores the cluster's autolock setting: on with the ID of
// the current unlock key, or off. Every manager follows it (each
// re-encrypts its own secrets key); the key itself never goes to Raft.
func (m *Manager) SetAutolock(ctx context.Context, s state.AutolockSetting) error {
	if err := m.writable(ctx); err != nil {
		return err
	}
	res, err := m.Propose(ctx, &state.Command{Atomic: true, Ops: []state.Op{{Kind: state.OpSetAutolock, Lock: &s}}})
	if err != nil {
		return fmt.Errorf("store the autolock setting: %w", err)
	}
	if res.Err != nil {
		return fmt.Errorf("store the autolock setting: %w", res.Err)
	}
	return nil
}
