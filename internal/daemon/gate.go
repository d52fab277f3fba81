package daemon

import (
	"maps"
	"slices"
	"strings"
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

// gatedSink feeds a sink (a worker's routing mesh) only once its gate
// has opened: until then it keeps the routes it is given, by ID, and
// hands them over as one Reset when open is called after the gate
// opened. Only the routes follower calls it.
type gatedSink struct {
	to       routeSink
	gate     *registeredGate
	open     bool
	services map[string]*api.Service
	tasks    map[string]*api.Task
}

func newGatedSink(to routeSink, gate *registeredGate) *gatedSink {
	return &gatedSink{to: to, gate: gate, services: map[string]*api.Service{}, tasks: map[string]*api.Task{}}
}

func (g *gatedSink) Reset(services []*api.Service, tasks []*api.Task) {
	if g.open {
		g.to.Reset(services, tasks)
		return
	}
	clear(g.services)
	clear(g.tasks)
	for _, s := range services {
		if s != nil {
			g.services[s.ID] = s
		}
	}
	for _, t := range tasks {
		if t != nil {
			g.tasks[t.ID] = t
		}
	}
}

func (g *gatedSink) Apply(events ...api.Event) {
	if g.open {
		g.to.Apply(events...)
		return
	}
	for _, ev := range events {
		switch {
		case ev.Type == api.EventService && ev.Action == api.ActionRemove:
			delete(g.services, ev.ID)
		case ev.Type == api.EventService && ev.Service != nil:
			g.services[ev.Service.ID] = ev.Service
		case ev.Type == api.EventTask && ev.Action == api.ActionRemove:
			delete(g.tasks, ev.ID)
		case ev.Type == api.EventTask && ev.Task != nil:
			g.tasks[ev.Task.ID] = ev.Task
		}
	}
}

// check hands the routes kept over once the gate has opened.
func (g *gatedSink) check() {
	if g.open {
		return
	}
	select {
	case <-g.gate.ready:
	default:
		return
	}
	g.open = true
	services := slices.SortedFunc(maps.Values(g.services), func(a, b *api.Service) int { return strings.Compare(a.ID, b.ID) })
	tasks := slices.SortedFunc(maps.Values(g.tasks), func(a, b *api.Task) int { return strings.Compare(a.ID, b.ID) })
	g.services, g.tasks = nil, nil
	g.to.Reset(services, tasks)
}
