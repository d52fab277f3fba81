package state

import "github.com/shoalproject/shoal/api"

// SubscribeNode is SubscribeBounded for the changes to one node's tasks
// and to its own record: the task events whose task is on node nodeID,
// the node events of nodeID, and EventReset. A
// dispatcher session needs no more, and a commit then costs what its
// events touch, not one copy per connected node: publishing looks up the
// subscriptions of each event's node.
func (s *Store) SubscribeNode(nodeID string, limit int) (*ReadTx, *Subscription) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := newSubscription(s, limit)
	sub.node = nodeID
	subs := s.nodeSubs[nodeID]
	if subs == nil {
		subs = map[*Subscription]struct{}{}
		s.nodeSubs[nodeID] = subs
	}
	subs[sub] = struct{}{}
	return s.readTx(), sub
}

// NodeSubscribers returns how many SubscribeNode subscriptions of node
// nodeID are open.
func (s *Store) NodeSubscribers(nodeID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.nodeSubs[nodeID])
}

// publishByNode queues each task event for the subscriptions of its
// node, in commit order, a commit's events of one node together; s.mu is
// held.
func (s *Store) publishByNode(evs []api.Event) {
	if len(s.nodeSubs) == 0 {
		return
	}
	var byNode map[string][]api.Event
	var order []string
	for _, ev := range evs {
		var id string
		switch {
		case ev.Type == api.EventTask && ev.Task != nil:
			id = ev.Task.NodeID
		case ev.Type == api.EventNode:
			// The node's own record: its agent learns its role from it.
			id = ev.ID
		}
		if id == "" || s.nodeSubs[id] == nil {
			continue
		}
		if byNode == nil {
			byNode = map[string][]api.Event{}
		}
		if _, ok := byNode[id]; !ok {
			order = append(order, id)
		}
		byNode[id] = append(byNode[id], ev)
	}
	for _, id := range order {
		for sub := range s.nodeSubs[id] {
			if !sub.push(byNode[id]) {
				s.forget(sub)
			}
		}
	}
}
