package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// BenchmarkCommitWithSessions is the cost of one commit (a task status
// report, as agents send them) with N sessions connected and reading,
// each subscribed the way the dispatcher subscribes: to the whole store
// (before issue 15) or to its node's tasks (SubscribeNode, after).
func BenchmarkCommitWithSessions(b *testing.B) {
	for _, how := range []string{"whole-store", "by-node"} {
		for _, sessions := range []int{0, 100, 1000, 2000} {
			b.Run(fmt.Sprintf("%s/sessions=%d", how, sessions), func(b *testing.B) {
				benchCommit(b, how == "by-node", sessions)
			})
		}
	}
}

var t0bench = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func benchCommit(b *testing.B, byNode bool, sessions int) {
	s := state.NewStore()
	p := &state.LocalProposer{Store: s}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var ops []state.Op
	for i := range max(sessions, 1) {
		node := fmt.Sprintf("n%d", i)
		ops = append(ops, state.Op{Kind: state.OpCreateTask, Task: &api.Task{ID: "t-" + node, ServiceID: "svc", NodeID: node,
			DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStateAssigned}}})
	}
	if _, err := state.ProposeBatches(ctx, p, t0bench, ops); err != nil {
		b.Fatal(err)
	}
	for i := range sessions {
		var sub *state.Subscription
		if byNode {
			_, sub = s.SubscribeNode(fmt.Sprintf("n%d", i), 0)
		} else {
			_, sub = s.Subscribe()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			for {
				if _, err := sub.Next(ctx); err != nil {
					return
				}
			}
		}()
	}
	b.ResetTimer()
	b.ReportAllocs()
	for i := range b.N {
		// Running again, with a new message: the store applies it as a
		// change, with its event.
		st := api.TaskStateRunning
		id := fmt.Sprintf("t-n%d", i%max(sessions, 1))
		if _, err := p.Propose(ctx, &state.Command{Time: t0bench, Ops: []state.Op{{Kind: state.OpTaskStatus,
			Report: &api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st, Message: fmt.Sprint(i)}}}}}); err != nil {
			b.Fatal(err)
		}
	}
}
