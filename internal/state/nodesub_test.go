package state

import (
	"context"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// A node subscription queues the events of its node's tasks, and nothing
// of other nodes, services or nodes themselves.
func TestSubscribeNodeQueuesOnlyItsNodesTasks(t *testing.T) {
	s := NewStore()
	p := &LocalProposer{Store: s}
	_, sub := s.SubscribeNode("n1", 0)
	defer sub.Close()
	task := func(id, node string) Op {
		return Op{Kind: OpCreateTask, Task: &api.Task{ID: id, ServiceID: "svc", NodeID: node, DesiredState: api.TaskStateRunning,
			Status: api.TaskStatus{State: api.TaskStatePending}}}
	}
	if _, err := p.Propose(context.Background(), &Command{Ops: []Op{
		{Kind: OpUpsertNode, Node: &api.Node{ID: "n1"}}, task("a", "n2"), task("b", "n1"), task("c", ""),
	}}); err != nil {
		t.Fatal(err)
	}
	evs, err := sub.Drain()
	if err != nil || len(evs) != 1 || evs[0].ID != "b" {
		t.Fatalf("node subscription got %+v %v, want task b only", evs, err)
	}
	if s.Subscribers() != 1 {
		t.Fatalf("%d subscribers", s.Subscribers())
	}
	sub.Close()
	if s.Subscribers() != 0 {
		t.Fatalf("%d subscribers after close", s.Subscribers())
	}
}
