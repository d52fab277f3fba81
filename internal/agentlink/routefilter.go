package agentlink

import (
	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// quietServices is what one routes stream leaves out: the services no
// node routes to (routed is false) and their tasks that are on no network
// and publish no port. Nothing a worker runs reads them (the ingress
// routes by labels, the routing mesh by published ports, the overlay and
// the resolver by networks), and without them a deploy of such services
// (most batch work, and every service of the 1,000-node benchmark) costs
// the routes streams nothing per task change.
//
// A quiet service that becomes routed is sent with its tasks as they are
// then; a sent service that stops being routed stays sent (its update
// tells the reader that it lost its routes). A task of a quiet service
// that was sent (one on a network or with endpoints: of the spec before
// the service lost its ports, say) stays sent too, until it is removed:
// otherwise the change that takes its endpoints away, and its removal,
// would be left out and its reader would keep it. A quiet service that
// is removed stays quiet (in gone) while it has tasks: they are shut
// down and removed after it, and a node needs those changes no more than
// the ones before. The sets are the stream's own, rebuilt with every
// snapshot: one ID per quiet service, and one per such sent task (few).
type quietServices struct {
	svcs map[string]bool
	gone map[string]bool
	sent map[string]bool
	// emptied are gone services that lost a task: each is forgotten once
	// a read no newer than the events filtered so far has none of its
	// tasks left (the stream reads the store as it is now, which may
	// already lack tasks whose removals are still queued).
	emptied map[string]bool
	seen    uint64 // the newest event index filtered
}

func newQuietServices() *quietServices {
	return &quietServices{svcs: map[string]bool{}, gone: map[string]bool{}, sent: map[string]bool{}, emptied: map[string]bool{}}
}

// reset forgets everything, for a new snapshot.
func (q *quietServices) reset() {
	clear(q.svcs)
	clear(q.gone)
	clear(q.sent)
	clear(q.emptied)
}

// routed reports whether some node's routing reads svc: it has labels
// (the ingress's rules and middlewares, which other services' labels may
// use), published ports, virtual IPs or networks.
func routed(svc *api.Service) bool {
	if len(svc.Spec.Labels) > 0 || len(svc.Spec.TaskTemplate.Networks) > 0 {
		return true
	}
	if ep := svc.Spec.EndpointSpec; ep != nil && len(ep.Ports) > 0 {
		return true
	}
	return svc.Endpoint != nil && (len(svc.Endpoint.Ports) > 0 || len(svc.Endpoint.VirtualIPs) > 0)
}

// quietTask reports whether t is left out: a task of a quiet service on
// no network, with no endpoint and never sent. A task of a service the
// stream does not know (not yet created, or gone) is sent. A task of a
// quiet service that is not left out is recorded as sent.
func (q *quietServices) quietTask(t *api.Task) bool {
	if !q.svcs[t.ServiceID] && !q.gone[t.ServiceID] || q.sent[t.ID] {
		return false
	}
	if len(t.NetworksAttachments) == 0 && len(t.Endpoints) == 0 {
		return true
	}
	q.sent[t.ID] = true
	return false
}

// filter keeps of evs what the stream's reader follows, and adds, after
// the event that made a quiet service routed, that service's tasks as
// tx has them (update events at tx's index, trimmed, without their JSON).
func (q *quietServices) filter(tx *state.ReadTx, evs []routeEvent) []routeEvent {
	out := evs[:0:0]
	defer q.forgetEmptied(tx)
	lost := func(service string) { q.emptied[service] = true }
	for _, ev := range evs {
		q.seen = max(q.seen, ev.Index)
		switch ev.Type {
		case api.EventService:
			if ev.Action == api.ActionRemove || ev.Service == nil {
				if q.svcs[ev.ID] {
					delete(q.svcs, ev.ID)
					q.gone[ev.ID] = true
					lost(ev.ID)
					continue
				}
				break
			}
			quiet, known := q.svcs[ev.ID]
			if !routed(ev.Service) {
				if quiet || (!known && ev.Action == api.ActionCreate) {
					q.svcs[ev.ID] = true
					continue
				}
				break
			}
			if quiet {
				out = append(out, ev)
				// Only the tasks the reader lacks: the others came,
				// and their queued events stay in order.
				for _, t := range tx.TasksByService(ev.ID) {
					if q.quietTask(t) {
						out = append(out, routeEvent{Event: api.Event{Index: tx.Index(), Type: api.EventTask, Action: api.ActionUpdate, ID: t.ID, Task: routingTask(t)}})
					}
				}
				delete(q.svcs, ev.ID)
				continue
			}
		case api.EventTask:
			if ev.Action == api.ActionRemove {
				if ev.Task != nil && q.gone[ev.Task.ServiceID] {
					lost(ev.Task.ServiceID)
				}
				if q.sent[ev.ID] {
					// Its reader drops it; nothing to remember.
					delete(q.sent, ev.ID)
					break
				}
			}
			if ev.Task != nil && q.quietTask(ev.Task) {
				continue
			}
			if ev.Action == api.ActionRemove {
				delete(q.sent, ev.ID)
			}
		}
		out = append(out, ev)
	}
	return out
}

// forgetEmptied forgets the gone services that tx has no task of, when tx
// is no newer than the events filtered: then every removal of their tasks
// has passed, and no more events of them come. A newer tx (changes still
// queued) leaves them for a later batch.
func (q *quietServices) forgetEmptied(tx *state.ReadTx) {
	if len(q.emptied) == 0 || tx.Index() > q.seen {
		return
	}
	for id := range q.emptied {
		if !tx.HasTasksOfService(id) {
			delete(q.gone, id)
			delete(q.emptied, id)
		}
	}
}
