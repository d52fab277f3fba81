package state

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
//
// Each op is encoded once: its encoding both bounds the command and makes
// the command's log entry (Command.encoded), which is json.Marshal's
// bytes for the command (TestProposeBatchesEncodesAsJSON).
func ProposeBatches(ctx context.Context, p Proposer, at time.Time, ops []Op) ([]error, error) {
	var opErrs []error
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	var head []byte
	if !at.IsZero() {
		t, err := json.Marshal(at)
		if err != nil {
			return nil, fmt.Errorf("encode command time: %w", err)
		}
		head = append(append([]byte(`{"time":`), t...), `,"ops":[`...)
	}
	for len(ops) > 0 {
		buf.Reset()
		buf.Write(head)
		n, size := 0, 0
		for n < len(ops) && n < MaxOpsPerCommand {
			mark := buf.Len()
			if n > 0 {
				buf.WriteByte(',')
			}
			// Encode ends the op with a newline, which the entry leaves
			// out (the next op's comma overwrites it).
			if err := enc.Encode(&ops[n]); err != nil {
				return opErrs, err
			}
			buf.Truncate(buf.Len() - 1)
			b := buf.Len() - mark
			if n > 0 {
				b--
			}
			if n > 0 && size+b > MaxCommandBytes {
				buf.Truncate(mark)
				break
			}
			size += b
			n++
		}
		cmd := &Command{Time: at, Ops: ops[:n]}
		if head != nil {
			buf.WriteString("]}")
			cmd.encoded = bytes.Clone(buf.Bytes())
		}
		res, err := p.Propose(ctx, cmd)
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
