package agentlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/httpjson"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/state"
)

// routes streams what a node's ingress, routing mesh and overlay
// networking follow, as JSON lines of routeUpdate: first every service,
// task, network and node (less the services no node routes to and their
// tasks: quietServices), read in the same transaction
// the subscription starts from, so that no change falls between the two;
// then each committed change to them. A keep-alive line
// goes out when nothing changed for a while, so that a reader notices a
// manager that vanished.
//
// A line that cannot be written within the write timeout ends the stream:
// the reader stopped reading, and the changes queued for it would
// otherwise pile up in memory for as long as its connection stays open.
// It connects again and starts from a new snapshot. So does a reader
// slow enough that more than the server's stream queue of changes waits
// for it: the write timeout alone would let a reader that takes nearly
// as long on each line keep a growing queue alive.
//
// Everything is trimmed to what routing and networking need: a worker
// sees the cluster's routing labels, endpoints and network attachments,
// not every service's environment and command; of a network its subnet
// and VXLAN ID; of a node its state and address. A node's address is the
// one its registration came from (checkNodeAddr), so the VTEP a worker
// sends another node's tasks' frames to is what the managers observed,
// never what some node said of another.
//
// Each stream costs a snapshot of the whole cluster held in memory while
// its reader takes its time, so one certificate must not open many: an
// agent process (its instance header) has one stream, a new one ending its
// older one (a connection it gave up on), and a node has streams of at
// most maxNodeStreams agent processes (one restarted past a connection
// the manager still holds open, or a copy of its data folder); one more
// is refused.
func (s *Server) routes(w http.ResponseWriter, r *http.Request) {
	node := nodeOf(r).NodeID
	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	release, ok := s.claimStream(node, r.Header.Get(headerInstance), stop)
	if !ok {
		tooMany(w, http.StatusTooManyRequests, 5*time.Second, fmt.Sprintf("node %s already has routes streams of %d agent processes", node, maxNodeStreams))
		return
	}
	defer release()
	// Joined before the snapshot is read: every change after it comes.
	hub := s.joinHub(s.streamQueue)
	if hub == nil {
		return // the server is closing
	}
	defer s.leaveHub(hub)
	tx := s.store.Read()
	if tx.NodeRemoved(node) {
		// Removed after ServeHTTP checked: the removal's event may be
		// at or below the snapshot's index, which the stream skips.
		httpjson.WriteError(w, http.StatusGone, fmt.Sprintf("node %s: %v", node, state.ErrRemoved))
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	// A stream ended (by the node's next one) cuts its pending write.
	defer context.AfterFunc(ctx, func() { _ = rc.SetWriteDeadline(time.Now()) })()
	write := func(encode func() error) bool {
		if ctx.Err() != nil {
			return false
		}
		// (Unsupported only by a wrapping ResponseWriter, never by
		// net/http's own.)
		_ = rc.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		err := encode()
		if err == nil {
			err = rc.Flush()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.log.Warn("routes stream ended: the node stopped reading it", "remote", r.RemoteAddr, "timeout", s.writeTimeout)
		}
		return err == nil
	}
	send := func(u routeUpdate) bool { return write(func() error { return enc.Encode(u) }) }
	// Only a node that runs an ingress gets secrets, and only those the
	// services' labels read, each once.
	var sent map[string]bool
	if r.Header.Get(headerIngressSecrets) != "" {
		sent = map[string]bool{}
	}
	quiet := newQuietServices()
	first := snapshot(tx, quiet)
	first.Secrets = s.ingressSecrets(tx, sent, tx.Services())
	since := tx.Index() // the changes up to it are in the snapshot
	if !send(first) {
		return
	}
	keep := time.NewTimer(routeKeepBeat)
	defer keep.Stop()
	var line []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		case <-keep.C:
			if !send(routeUpdate{}) {
				return
			}
			keep.Reset(routeKeepBeat)
			continue
		case <-hub.wake:
		}
		batches, err := hub.drain()
		if err != nil {
			s.log.Warn("routes stream ended: the node fell behind", "remote", r.RemoteAddr, "queued", s.streamQueue)
			return
		}
		var evs []routeEvent
		for _, batch := range batches {
			for _, ev := range batch {
				if ev.Index > since || ev.Type == state.EventReset {
					evs = append(evs, ev)
				}
			}
		}
		var (
			kept    []routeEvent
			secrets []*api.Secret
			reset   bool
		)
		for _, ev := range quiet.filter(s.store.Read(), evs) {
			if ev.Type == api.EventNode && ev.Action == api.ActionRemove && ev.ID == node && s.store.Read().NodeRemoved(node) {
				s.log.Warn("routes stream ended: its node was removed", "node", node, "remote", r.RemoteAddr)
				return
			}
			if ev.Type == state.EventReset {
				// The state was replaced (a snapshot restored): start over.
				reset = true
				break
			}
			if ev.Type == api.EventService && ev.Service != nil {
				secrets = append(secrets, s.ingressSecrets(s.store.Read(), sent, []*api.Service{ev.Service})...)
			}
			kept = append(kept, ev)
		}
		if reset {
			tx := s.store.Read()
			quiet.reset()
			u := snapshot(tx, quiet)
			clear(sent)
			u.Secrets = s.ingressSecrets(tx, sent, tx.Services())
			since = tx.Index()
			if !send(u) {
				return
			}
		} else if len(kept) > 0 {
			if line, err = appendEventsLine(line[:0], kept, secrets); err != nil {
				s.log.Error("routes stream ended: a change could not be encoded", "remote", r.RemoteAddr, "err", err)
				return
			}
			if !write(func() error { _, err := w.Write(line); return err }) {
				return
			}
			if cap(line) > maxKeptLine {
				line = nil // not kept for the stream's life, times the nodes
			}
		} else {
			continue
		}
		keep.Reset(routeKeepBeat) // no stale tick since Go 1.23
	}
}

// maxKeptLine is the largest line buffer a routes stream keeps between
// its lines; a commit of many routed changes makes every stream write a
// line of megabytes once.
const maxKeptLine = 64 << 10

// appendEventsLine appends to buf the routeUpdate line of evs and
// secrets, the events as the hub encoded them (those without their JSON
// encoded here).
func appendEventsLine(buf []byte, evs []routeEvent, secrets []*api.Secret) ([]byte, error) {
	buf = append(buf, `{"Events":[`...)
	for i, ev := range evs {
		if i > 0 {
			buf = append(buf, ',')
		}
		raw := ev.raw
		if raw == nil {
			var err error
			if raw, err = json.Marshal(ev.Event); err != nil {
				return nil, fmt.Errorf("encode the %s event of %s: %w", ev.Type, ev.ID, err)
			}
		}
		buf = append(buf, raw...)
	}
	buf = append(buf, ']')
	if len(secrets) > 0 {
		raw, err := json.Marshal(secrets)
		if err != nil {
			return nil, fmt.Errorf("encode the ingress's secrets: %w", err)
		}
		buf = append(buf, `,"Secrets":`...)
		buf = append(buf, raw...)
	}
	return append(buf, "}\n"...), nil
}

// maxNodeStreams bounds the agent processes with a routes stream of one
// node.
const maxNodeStreams = 2

// claimStream makes stop end the routes stream of node's agent instance,
// ending the one it had; it reports false when other instances of the
// node hold maxNodeStreams streams. The returned func gives the claim up.
func (s *Server) claimStream(node, instance string, stop context.CancelFunc) (func(), bool) {
	claim := &stop
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams == nil {
		s.streams = map[string]map[string]*context.CancelFunc{}
	}
	held := s.streams[node]
	if old := held[instance]; old != nil {
		(*old)()
	} else if len(held) >= maxNodeStreams {
		return nil, false
	}
	if held == nil {
		held = map[string]*context.CancelFunc{}
		s.streams[node] = held
	}
	held[instance] = claim
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if held[instance] == claim {
			delete(held, instance)
			if len(s.streams[node]) == 0 {
				delete(s.streams, node)
			}
		}
	}, true
}

// snapshot is tx's routing state, less what quiet leaves out (the
// services it finds unrouted, which it adds to quiet).
func snapshot(tx *state.ReadTx, quiet *quietServices) routeUpdate {
	u := routeUpdate{Reset: true, Services: []*api.Service{}, Tasks: []*api.Task{}, Networks: []*api.Network{}, Nodes: []*api.Node{}}
	for _, svc := range tx.Services() {
		if !routed(svc) {
			quiet.svcs[svc.ID] = true
			continue
		}
		u.Services = append(u.Services, routingService(svc))
	}
	for _, t := range tx.Tasks() {
		if quiet.quietTask(t) {
			continue
		}
		u.Tasks = append(u.Tasks, routingTask(t))
	}
	for _, n := range tx.Networks() {
		u.Networks = append(u.Networks, routingNetwork(n))
	}
	for _, n := range tx.Nodes() {
		u.Nodes = append(u.Nodes, routingNode(n))
	}
	return u
}

// ingressSecrets are the secrets svcs' labels read (ingress.LabelSecrets)
// not yet in sent, decrypted, for a stream whose node runs an ingress
// (sent not nil); it adds them to sent. A secret that cannot be opened
// is left out and logged: the ingress then refuses the router (503).
func (s *Server) ingressSecrets(tx *state.ReadTx, sent map[string]bool, svcs []*api.Service) []*api.Secret {
	if sent == nil {
		return nil
	}
	var out []*api.Secret
	for _, svc := range svcs {
		for _, ref := range ingress.LabelSecrets(&svc.Spec) {
			if sent[ref.SecretID] {
				continue
			}
			sec, err := s.d.OpenSecret(tx, ref)
			if err != nil {
				s.log.Error("secret not delivered to an ingress", "secret", ref.SecretName, "service", svc.Spec.Name, "err", err)
				continue
			}
			if sent[sec.ID] {
				continue
			}
			sent[sec.ID] = true
			out = append(out, sec)
		}
	}
	return out
}

// routingNetwork is what a node plumbs a network by and its resolver
// names it by.
func routingNetwork(n *api.Network) *api.Network {
	if n == nil {
		return nil
	}
	return &api.Network{ID: n.ID, Meta: n.Meta, Spec: api.NetworkSpec{Name: n.Spec.Name, Internal: n.Spec.Internal},
		IPAM: n.IPAM, DriverState: n.DriverState}
}

// routingNode is a node's state and the address the managers observed it
// on: its VTEP; and its agent's session, which a node's ingress waits
// for before it serves.
func routingNode(n *api.Node) *api.Node {
	if n == nil {
		return nil
	}
	return &api.Node{ID: n.ID, Meta: n.Meta, Status: api.NodeStatus{State: n.Status.State, Addr: n.Status.Addr, Session: n.Status.Session}}
}

// routingService is the part of a service the ingress, the routing mesh
// and the resolver read: its labels, its endpoint, with the published
// ports and virtual IPs the managers allocated, and its networks with
// their aliases.
func routingService(svc *api.Service) *api.Service {
	if svc == nil {
		return nil
	}
	return &api.Service{ID: svc.ID, Meta: svc.Meta, Spec: api.ServiceSpec{
		Name: svc.Spec.Name, Labels: svc.Spec.Labels, Mode: svc.Spec.Mode, EndpointSpec: svc.Spec.EndpointSpec,
		TaskTemplate: api.TaskSpec{Networks: svc.Spec.TaskTemplate.Networks,
			// Which secret a usersFile label names (references only).
			ContainerSpec: api.ContainerSpec{Secrets: svc.Spec.TaskTemplate.ContainerSpec.Secrets}},
	}, Endpoint: svc.Endpoint}
}

// routingTask is a task without its spec and history, nor its status's
// message, error and runtime ID, which no routing reads: a failed health
// check's output is in the error.
func routingTask(t *api.Task) *api.Task {
	if t == nil {
		return nil
	}
	out := *t
	out.Spec = api.TaskSpec{}
	out.History = nil
	out.Status.Message, out.Status.Err, out.Status.RuntimeID = "", "", ""
	return &out
}
