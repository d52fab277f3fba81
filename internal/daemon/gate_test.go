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
