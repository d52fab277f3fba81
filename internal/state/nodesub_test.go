package state

import (
	"context"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// A node subscription queues the events of its node's tasks and of its
// node's own record (its agent learns its role from it), and nothing of
// other nodes, their tasks or services.
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
		{Kind: OpUpsertNode, Node: &api.Node{ID: "n1"}}, {Kind: OpUpsertNode, Node: &api.Node{ID: "n2"}}, task("a", "n2"), task("b", "n1"), task("c", ""),
	}}); err != nil {
		t.Fatal(err)
	}
	evs, err := sub.Drain()
	if err != nil || len(evs) != 2 || evs[0].Type != api.EventNode || evs[0].ID != "n1" || evs[1].ID != "b" {
		t.Fatalf("node subscription got %+v %v, want node n1 and task b only", evs, err)
	}
	if s.Subscribers() != 1 {
		t.Fatalf("%d subscribers", s.Subscribers())
	}
	sub.Close()
	if s.Subscribers() != 0 {
		t.Fatalf("%d subscribers after close", s.Subscribers())
	}
}

// WaitIndex returns once the store applied the index, a command that
// changed nothing (and published no event) included, and gives up when
// its context ends.
func TestWaitIndex(t *testing.T) {
	s := NewStore()
	p := &LocalProposer{Store: s}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.WaitIndex(short, 1); err == nil {
		t.Fatal("WaitIndex(1) on an empty store returned nil")
	}
	done := make(chan error, 1)
	go func() { done <- s.WaitIndex(context.Background(), 2) }()
	for i := 0; i < 2; i++ {
		// Removing a service that is not there changes nothing.
		if _, err := p.Propose(context.Background(), &Command{Atomic: true, Ops: []Op{{Kind: OpDeleteService, ID: "none"}}}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitIndex(2) still waits at index", s.Index())
	}
	if err := s.WaitIndex(short, 2); err != nil {
		t.Fatalf("WaitIndex of an applied index: %v", err)
	}
}
