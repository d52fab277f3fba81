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
// tells the reader that it lost its routes). The set holds service IDs
// only, one per quiet service: it is the stream's own, rebuilt with every
// snapshot.
type quietServices map[string]bool

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
// no network and with no endpoint. A task of a service the stream does
// not know (not yet created, or gone) is sent.
func (q quietServices) quietTask(t *api.Task) bool {
	return q[t.ServiceID] && len(t.NetworksAttachments) == 0 && len(t.Endpoints) == 0
}

// filter keeps of evs what the stream's reader follows, and adds, after
// the event that made a quiet service routed, that service's tasks as
// tx has them (update events at tx's index).
func (q quietServices) filter(tx *state.ReadTx, evs []api.Event) []api.Event {
	out := evs[:0:0]
	for _, ev := range evs {
		switch ev.Type {
		case api.EventService:
			if ev.Action == api.ActionRemove || ev.Service == nil {
				if q[ev.ID] {
					delete(q, ev.ID)
					continue
				}
				break
			}
			quiet, known := q[ev.ID]
			if !routed(ev.Service) {
				if quiet || (!known && ev.Action == api.ActionCreate) {
					q[ev.ID] = true
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
						out = append(out, api.Event{Index: tx.Index(), Type: api.EventTask, Action: api.ActionUpdate, ID: t.ID, Task: t})
					}
				}
				delete(q, ev.ID)
				continue
			}
		case api.EventTask:
			if ev.Task != nil && q.quietTask(ev.Task) {
				continue
			}
		}
		out = append(out, ev)
	}
	return out
}
