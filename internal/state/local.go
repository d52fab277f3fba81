package state

import (
	"context"
	"sync"
	"time"
)

// LocalProposer applies commands straight to a store, numbering them like a
// log of its own. It stands in for Raft where Raft cannot run: property
// tests and simulations that apply thousands of commands.
type LocalProposer struct {
	Store *Store
	mu    sync.Mutex
}

// Propose applies cmd at the next index.
func (p *LocalProposer) Propose(ctx context.Context, cmd *Command) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cmd.Time.IsZero() {
		cmd.Time = time.Now().UTC()
	}
	return p.Store.apply(p.Store.Index()+1, cmd), nil
}
