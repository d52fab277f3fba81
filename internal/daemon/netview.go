package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/netagent"
	"github.com/shoalproject/shoal/internal/state"
)

// netView keeps the part of the cluster a node's networking follows
// (networks, services, the tasks on networks, nodes), fed a full set and
// then changes, and gives it to the node's netagent whenever a change
// touches what the netagent reads: a task's status message or a change to
// a task with no network rebuilds nothing. One goroutine feeds it.
type netView struct {
	net interface{ SetView(netagent.View) error }
	log *slog.Logger

	networks map[string]*api.Network
	services map[string]*api.Service
	tasks    map[string]*api.Task // those with network attachments
	nodes    map[string]*api.Node
	// pushes counts the views given to the netagent.
	pushes int
}

func newNetView(net interface{ SetView(netagent.View) error }, log *slog.Logger) *netView {
	return &netView{net: net, log: log}
}

// Reset replaces the view with r and gives it to the netagent.
func (v *netView) Reset(r agentlink.Routes) {
	v.networks, v.services, v.tasks, v.nodes = map[string]*api.Network{}, map[string]*api.Service{}, map[string]*api.Task{}, map[string]*api.Node{}
	for _, n := range r.Networks {
		v.networks[n.ID] = n
	}
	for _, s := range r.Services {
		v.services[s.ID] = s
	}
	for _, t := range r.Tasks {
		if len(t.NetworksAttachments) > 0 {
			v.tasks[t.ID] = t
		}
	}
	for _, n := range r.Nodes {
		v.nodes[n.ID] = n
	}
	v.push()
}

// Apply takes the events of one committed change, and gives the netagent
// the new view if any of them changed what it reads.
func (v *netView) Apply(events ...api.Event) {
	if v.tasks == nil {
		return // no full set yet: a Reset comes first
	}
	changed := false
	for _, ev := range events {
		if v.apply(ev) {
			changed = true
		}
	}
	if changed {
		v.push()
	}
}

func (v *netView) apply(ev api.Event) bool {
	remove := ev.Action == api.ActionRemove
	switch ev.Type {
	case api.EventNetwork:
		return put(v.networks, ev.ID, ev.Network, remove, func(a, b *api.Network) bool { return false })
	case api.EventService:
		return put(v.services, ev.ID, ev.Service, remove, func(a, b *api.Service) bool { return false })
	case api.EventNode:
		return put(v.nodes, ev.ID, ev.Node, remove, func(a, b *api.Node) bool { return a.Status.Addr == b.Status.Addr })
	case api.EventTask:
		if ev.Task != nil && len(ev.Task.NetworksAttachments) == 0 {
			remove = true // never on a network: nothing to follow
		}
		return put(v.tasks, ev.ID, ev.Task, remove, func(a, b *api.Task) bool { return taskKey(a) == taskKey(b) })
	}
	return false
}

// put sets (or, with remove or no object, deletes) m[id], and reports
// whether that changed what same compares.
func put[T any](m map[string]*T, id string, obj *T, remove bool, same func(a, b *T) bool) bool {
	old, had := m[id]
	if remove || obj == nil {
		delete(m, id)
		return had
	}
	m[id] = obj
	return !had || !same(old, obj)
}

// taskKey is what the netagent reads of a task: its name, node, state,
// health and addresses.
func taskKey(t *api.Task) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%d|%s|%v|%v|%s", t.ServiceID, t.ServiceName, t.Slot, t.NodeID, t.DesiredState, t.Status.State, t.Status.Health)
	for _, na := range t.NetworksAttachments {
		fmt.Fprintf(&b, "|%s=%s", na.Network.ID, strings.Join(na.Addresses, ","))
	}
	return b.String()
}

// push gives the netagent the view, in a stable order.
func (v *netView) push() {
	v.pushes++
	view := netagent.View{Networks: sorted(v.networks), Services: sorted(v.services), Tasks: sorted(v.tasks), Nodes: sorted(v.nodes)}
	if err := v.net.SetView(view); err != nil {
		v.log.Warn("cluster view not applied to the node's networking in full", "err", err)
	}
}

func sorted[T any](m map[string]*T) []*T {
	out := make([]*T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// followNetworkView gives the node's networking the cluster's state from
// the store, until ctx ends: all of it first, then each batch of changes
// that touches what it reads.
func followNetworkView(ctx context.Context, store *state.Store, net *netagent.Agent, log *slog.Logger) {
	v := newNetView(net, log)
	tx, sub := store.Subscribe()
	defer sub.Close()
	v.Reset(routesOf(tx))
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if slices.ContainsFunc(evs, func(ev api.Event) bool { return ev.Type == state.EventReset }) {
			// The state was replaced (a snapshot restored): read it all.
			v.Reset(routesOf(store.Read()))
			continue
		}
		v.Apply(evs...)
	}
}

// routesOf is the whole of what netView follows, read in one transaction.
func routesOf(tx *state.ReadTx) agentlink.Routes {
	return agentlink.Routes{Networks: tx.Networks(), Services: tx.Services(), Tasks: tx.Tasks(), Nodes: tx.Nodes()}
}
