package daemon

import (
	"sync"

	"github.com/shoalproject/shoal/api"
)

// registeredGate opens once the routes a node follows show its own agent
// registered with its current session. A node's ingress serves from
// then on: until that registration, the routes hold the endpoints its
// previous agent reported, which may have moved while no agent ran (and
// been taken by another program); the registration's write marks them
// unconfirmed (api.Task.EndpointsUnconfirmed), so from then on they take
// no traffic until the new agent has read them again.
type registeredGate struct {
	nodeID, session string
	once            sync.Once
	ready           chan struct{}
}

// newRegisteredGate returns a closed gate for node nodeID; its session
// is set before the routes are followed.
func newRegisteredGate(nodeID string) *registeredGate {
	return &registeredGate{nodeID: nodeID, ready: make(chan struct{})}
}

// nodes opens the gate if ns show the registration.
func (g *registeredGate) nodes(ns ...*api.Node) {
	for _, n := range ns {
		// A manager that records no session (an older one) is taken
		// at its word that the node is ready.
		if n != nil && n.ID == g.nodeID && n.Status.State == api.NodeStateReady &&
			(n.Status.Session == g.session || n.Status.Session == "") {
			g.once.Do(func() { close(g.ready) })
			return
		}
	}
}

// events opens the gate if evs show the registration; they are applied
// to the routes before it is called.
func (g *registeredGate) events(evs ...api.Event) {
	for _, ev := range evs {
		if ev.Type == api.EventNode && ev.Action != api.ActionRemove {
			g.nodes(ev.Node)
		}
	}
}
