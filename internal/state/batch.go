package state

import (
	"context"
	"encoding/json"
	"time"
)

// Bounds of one controller command. A controller's pass may write many
// ops (a service of 100,000 replicas scaled to zero); they go out as
// several Raft entries, so that no entry grows with the cluster's size
// and each is applied, and published, in a bounded time.
const (
	// MaxOpsPerCommand bounds the ops of one command (Kubernetes' replica
	// set controller creates at most 500 pods at a time).
	MaxOpsPerCommand = 500
	// MaxCommandBytes bounds the JSON form of one command's ops; an op
	// bigger than it goes alone.
	MaxCommandBytes = 8 << 20
)

// ProposeBatches proposes ops, in order, as non-atomic commands at time at,
// each of at most MaxOpsPerCommand ops and MaxCommandBytes bytes. It
// returns the error of each op (nil for those applied), in the order of
// ops, or the first proposal error; the commands before it were applied.
func ProposeBatches(ctx context.Context, p Proposer, at time.Time, ops []Op) ([]error, error) {
	var opErrs []error
	for len(ops) > 0 {
		n, size := 0, 0
		for n < len(ops) && n < MaxOpsPerCommand {
			b, err := json.Marshal(&ops[n])
			if err != nil {
				return opErrs, err
			}
			if n > 0 && size+len(b) > MaxCommandBytes {
				break
			}
			size += len(b)
			n++
		}
		res, err := p.Propose(ctx, &Command{Time: at, Ops: ops[:n]})
		if err != nil {
			return opErrs, err
		}
		if res.OpErrs == nil {
			res.OpErrs = make([]error, n)
		}
		opErrs = append(opErrs, res.OpErrs...)
		ops = ops[n:]
	}
	return opErrs, nil
}
