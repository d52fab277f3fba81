package daemon

import (
	"testing"

	"github.com/shoalproject/shoal/api"
)

// A node's ingress serves once the routes show its own agent registered
// with its current session: not on what its previous agent left (the
// same node, ready, another session), nor on another node's
// registration.
func TestRegisteredGateOpensOnTheAgentsOwnRegistration(t *testing.T) {
	open := func(g *registeredGate) bool {
		select {
		case <-g.ready:
			return true
		default:
			return false
		}
	}
	node := func(id, state, session string) *api.Node {
		return &api.Node{ID: id, Status: api.NodeStatus{State: state, Session: session}}
	}
	g := newRegisteredGate("n1")
	g.session = "run-2"
	g.nodes(node("n1", api.NodeStateReady, "run-1"), node("n2", api.NodeStateReady, "run-2"))
	g.events(api.Event{Type: api.EventNode, Action: api.ActionUpdate, ID: "n1", Node: node("n1", api.NodeStateDown, "run-2")})
	if open(g) {
		t.Fatal("the gate opened before this agent's registration")
	}
	g.events(api.Event{Type: api.EventNode, Action: api.ActionUpdate, ID: "n1", Node: node("n1", api.NodeStateReady, "run-2")})
	if !open(g) {
		t.Fatal("the gate stayed closed after this agent's registration")
	}
	g.nodes(node("n1", api.NodeStateReady, "run-2")) // opening twice is no panic

	older := newRegisteredGate("n1")
	older.session = "run-2"
	older.nodes(node("n1", api.NodeStateReady, ""))
	if !open(older) {
		t.Error("a manager that records no session left the ingress closed for good")
	}
}

// recordSink records what it is fed.
type recordSink struct {
	resets [][]string // task IDs of each Reset
	events []api.Event
}

func (r *recordSink) Reset(_ []*api.Service, tasks []*api.Task) {
	var ids []string
	for _, t := range tasks {
		ids = append(ids, t.ID)
	}
	r.resets = append(r.resets, ids)
}
func (r *recordSink) Apply(evs ...api.Event) { r.events = append(r.events, evs...) }

// A worker's routing mesh is fed nothing before its node's registration
// (it would forward to the previous agent's endpoints), then the routes
// as they stand, then every change.
func TestGatedSinkFeedsTheMeshOnceRegistered(t *testing.T) {
	gate := newRegisteredGate("n1")
	gate.session = "run-2"
	rec := &recordSink{}
	g := newGatedSink(rec, gate)
	task := func(id string) *api.Task { return &api.Task{ID: id} }
	g.Reset(nil, []*api.Task{task("a"), task("b")})
	g.Apply(api.Event{Type: api.EventTask, Action: api.ActionRemove, ID: "a"},
		api.Event{Type: api.EventTask, Action: api.ActionCreate, ID: "c", Task: task("c")})
	g.check()
	if len(rec.resets) != 0 || len(rec.events) != 0 {
		t.Fatalf("fed before the registration: %v %v", rec.resets, rec.events)
	}
	gate.events(api.Event{Type: api.EventNode, Action: api.ActionUpdate, ID: "n1",
		Node: &api.Node{ID: "n1", Status: api.NodeStatus{State: api.NodeStateReady, Session: "run-2"}}})
	g.check()
	if len(rec.resets) != 1 || len(rec.resets[0]) != 2 || rec.resets[0][0] != "b" || rec.resets[0][1] != "c" {
		t.Fatalf("resets %v, want one of [b c]", rec.resets)
	}
	g.Apply(api.Event{Type: api.EventTask, Action: api.ActionRemove, ID: "b"})
	g.check()
	if len(rec.events) != 1 || len(rec.resets) != 1 {
		t.Fatalf("after the registration: resets %v, events %v", rec.resets, rec.events)
	}
}
