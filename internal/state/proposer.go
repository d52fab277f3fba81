package state

import "context"

// Proposer replicates a command through Raft and returns its result once
// the local store has applied it. Controllers and the API write only
// through it.
type Proposer interface {
	Propose(ctx context.Context, cmd *Command) (Result, error)
}
