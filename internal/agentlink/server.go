package agentlink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/httpjson"
	"github.com/shoalproject/shoal/internal/state"
)

// ServerConfig sets up the managers' side of the link.
type ServerConfig struct {
	Dispatcher *dispatcher.Dispatcher
	// Store feeds the routes stream.
	Store *state.Store
	// Issuer admits new nodes by their join token and signs their
	// certificates; its root authenticates every other request.
	Issuer *ca.Issuer
	Logger *slog.Logger
	// StreamWriteTimeout bounds the write of one line of the routes
	// stream: a reader that takes longer has stopped reading, and its
	// stream ends. Zero means 3 keep-alive periods (30s), the silence
	// after which a reader gives up on the manager.
	StreamWriteTimeout time.Duration
	// StreamQueue bounds the changes queued for one routes stream whose
	// reader falls behind; past it the stream ends, and the reader starts
	// again from a snapshot. Zero means api.MaxEventQueue.
	StreamQueue int
	// Limits bound how fast agents register; zero fields take the
	// defaults.
	Limits RegisterLimits
	// Managers, when set, returns the leader's cluster port ("" when
	// none is known) and every manager's: a registration answers them,
	// and one refused by a follower names the leader.
	Managers func() (leader string, all []string)
	// Seen, when set, is told the verified identity of every request's
	// node (a CA rotation counts the nodes that show the new root).
	Seen func(ca.Identity)
}

// Server serves agents on other machines: it is an http.Handler to mount
// on the manager's agent port.
type Server struct {
	d      *dispatcher.Dispatcher
	store  *state.Store
	issuer *ca.Issuer
	log    *slog.Logger
	mux    *http.ServeMux
	// writeTimeout bounds each line of a routes stream.
	writeTimeout time.Duration
	// streamQueue bounds the changes queued for one routes stream.
	streamQueue int
	limits      *registerLimiter
	managers    func() (string, []string)
	seen        func(ca.Identity)
	// ctx ends when the server closes; long-polls and streams end with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*linkSession
	// streams ends the routes streams of each node's agent instances
	// (routes.go).
	streams map[string]map[string]*context.CancelFunc
	// logCalls are the log requests made of agents, by ID (logs.go).
	logCalls map[string]*logCall
	// hub feeds the routes streams from one store subscription
	// (routehub.go).
	hub routeHub
}

// linkSession is a dispatcher session an agent reaches by its ID.
type linkSession struct {
	id string
	s  *dispatcher.Session
	// instance names the agent process that registered (its client), and
	// remote the address it registered from.
	instance, remote string
	// polling is held by the one Assignments call a session may have.
	polling sync.Mutex
	// detached is set when the agent went away in the middle of a
	// long-poll (its connection closed: the process ended), and cleared
	// by the next long-poll. A session that is not detached has a live
	// agent, as far as the server can tell.
	detached atomic.Bool
	// logs queues the log requests for the node's agent (logs.go).
	logs chan logRequest
}

// NewServer returns the managers' side of the link. Close ends it.
func NewServer(cfg ServerConfig) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{d: cfg.Dispatcher, store: cfg.Store, issuer: cfg.Issuer, log: log, mux: http.NewServeMux(),
		ctx: ctx, cancel: cancel, sessions: map[string]*linkSession{}, logCalls: map[string]*logCall{}, writeTimeout: cfg.StreamWriteTimeout,
		limits: newRegisterLimiter(cfg.Limits), managers: cfg.Managers, seen: cfg.Seen}
	if s.writeTimeout <= 0 {
		s.writeTimeout = 3 * routeKeepBeat
	}
	s.streamQueue = cfg.StreamQueue
	if s.streamQueue <= 0 {
		s.streamQueue = api.MaxEventQueue
	}
	s.mux.HandleFunc("POST "+pathJoin, s.join)
	s.mux.HandleFunc("POST "+pathRegister, s.register)
	s.mux.HandleFunc("POST "+pathRenew, s.renew)
	s.mux.HandleFunc("GET "+pathSessions+"{id}"+suffixAssign, s.assignments)
	s.mux.HandleFunc("POST "+pathSessions+"{id}"+suffixReport, s.report)
	s.mux.HandleFunc("POST "+pathSessions+"{id}"+suffixBeat, s.heartbeat)
	s.mux.HandleFunc("DELETE "+pathSessions+"{id}", s.closeSession)
	s.mux.HandleFunc("GET "+pathSessions+"{id}"+suffixLogs, s.pollLogs)
	s.mux.HandleFunc("POST "+pathSessions+"{id}"+suffixLogs+"/{req}", s.answerLogs)
	s.mux.HandleFunc("GET "+pathRoutes, s.routes)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.WriteError(w, http.StatusNotFound, fmt.Sprintf("no such agent endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s
}

// identityKey keys the verified identity of a request's node in its
// context.
type identityKey struct{}

// ServeHTTP checks the node certificate the request came with (a join
// needs none: it brings the token), then serves the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == pathJoin {
		s.mux.ServeHTTP(w, r)
		return
	}
	trust := s.issuer.CA().Trust
	// Every answer names the roots the managers trust now: a node whose
	// own set differs (a CA rotation) renews at once, and gets it.
	w.Header().Set(HeaderTrust, trust.TrustDigest())
	id, err := ca.PeerIdentity(trust, r.TLS, time.Now())
	if err != nil {
		s.log.Warn("agent request refused: no valid node certificate", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		httpjson.WriteError(w, http.StatusUnauthorized, fmt.Sprintf("%v (a new node joins once with --token-file or SHOAL_JOIN_TOKEN; `shoal swarm join-token worker` on the manager prints the token)", err))
		return
	}
	// A removed node's certificate is valid until it expires; the
	// removal, in Raft, ends what it may do.
	if s.store != nil && s.store.Read().NodeRemoved(id.NodeID) {
		s.log.Warn("agent request refused: its node was removed", "node", id.NodeID, "remote", r.RemoteAddr, "path", r.URL.Path)
		httpjson.WriteError(w, http.StatusGone, fmt.Sprintf("node %s: %v by an operator (`shoal node rm`): its agent stops its tasks; to join again, start it with a new data folder", id.NodeID, state.ErrRemoved))
		return
	}
	if s.seen != nil {
		s.seen(id)
	}
	s.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
}

// HeaderTrust, on every answer of the agent link but a join's, is
// ca.RootCA.TrustDigest of the roots the managers trust.
const HeaderTrust = "Shoal-CA-Trust"

// nodeOf is the verified identity of the node a request came from.
func nodeOf(r *http.Request) ca.Identity {
	id, _ := r.Context().Value(identityKey{}).(ca.Identity)
	return id
}

// join admits a new node by its join token: the manager names it (a
// token holder cannot pick an existing node's ID) and signs its request.
func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	peer, err := peerAddr(r)
	if err != nil {
		httpjson.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Joins share the registrations' budget: both are a stranger's
	// first request, and a join costs a signature.
	if ok, retry := s.limits.allow(peer, time.Now()); !ok {
		s.log.Warn("agent join refused: too many", "remote", r.RemoteAddr)
		tooMany(w, http.StatusTooManyRequests, retry, "too many joins: try again later")
		return
	}
	var req joinRequest
	if !decodeLimit(w, r, &req, maxJoinBody) {
		return
	}
	if role, err := s.issuer.Admit(req.Token); err == nil && role != ca.RoleWorker {
		// A manager joins through the managers' join, which hands it the
		// cluster's secrets; here it would get a manager certificate on
		// a machine that runs no manager.
		s.log.Warn("agent join refused: a manager token", "remote", r.RemoteAddr)
		httpjson.WriteError(w, http.StatusForbidden, "this is a manager join token: an agent joins with the worker token (`shoal swarm join-token worker`); a manager joins with `shoal manager --join`")
		return
	}
	nodeID := api.NewID()
	cert, role, err := s.issuer.Join(req.Token, []byte(req.CSR), nodeID, time.Now())
	if err != nil {
		if errors.Is(err, ca.ErrTokenRejected) {
			s.log.Warn("agent join refused: invalid join token", "remote", r.RemoteAddr)
			httpjson.WriteError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if errors.Is(err, ca.ErrTokensUnavailable) {
			httpjson.WriteError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		httpjson.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.log.Info("node joined", "node", nodeID, "role", role, "remote", r.RemoteAddr)
	httpjson.Write(w, http.StatusOK, joinAnswer{NodeID: nodeID, Cert: string(cert), CA: string(s.issuer.CA().Trust.BundlePEM())})
}

// Close ends every session, long-poll and stream, and waits for the
// sessions' watchers. Agents then register again with whoever serves them.
func (s *Server) Close() {
	s.mu.Lock()
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	peer, err := peerAddr(r)
	if err != nil {
		httpjson.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if ok, retry := s.limits.allow(peer, time.Now()); !ok {
		s.log.Warn("agent registration refused: too many", "remote", r.RemoteAddr)
		tooMany(w, http.StatusTooManyRequests, retry, "too many registrations: try again later")
		return
	}
	var reg api.NodeRegistration
	if !decode(w, r, &reg) {
		return
	}
	if len(reg.NodeID) != api.IDLength || strings.Trim(reg.NodeID, "0123456789abcdefghijklmnopqrstuvwxyz") != "" {
		httpjson.WriteError(w, http.StatusBadRequest, fmt.Sprintf("invalid node ID %.64q: want %d lower-case letters and digits", reg.NodeID, api.IDLength))
		return
	}
	if err := nodeOf(r).RequireNode(reg.NodeID); err != nil {
		s.log.Warn("agent registration refused: another node's ID", "node", reg.NodeID, "cert", nodeOf(r).NodeID, "remote", r.RemoteAddr)
		httpjson.WriteError(w, http.StatusForbidden, err.Error())
		return
	}
	if code, msg := checkNodeAddr(reg.Addr, peer); code != 0 {
		httpjson.WriteError(w, code, msg)
		return
	}
	// A manager's own agent registers with its manager certificate
	// (through the leader, while its manager follows); a worker's never
	// speaks for a manager's node.
	isManager := nodeOf(r).Role == ca.RoleManager
	if n := s.store.Read().Node(reg.NodeID); n != nil && n.Spec.Role == api.RoleManager && !isManager {
		w.Header().Set(headerNodeRole, api.RoleManager)
		httpjson.WriteError(w, http.StatusForbidden, fmt.Sprintf("node %s is a manager: an agent cannot register as a manager with a worker certificate (promoted while it was away: it renews as a manager; else, is its data folder a copy of the manager's?)", reg.NodeID))
		return
	}
	instance := r.Header.Get(headerInstance)
	if msg := s.conflict(reg.NodeID, instance); msg != "" {
		httpjson.WriteError(w, http.StatusConflict, msg)
		return
	}
	// The worker token makes workers; a node that exists keeps its role.
	reg.Role = api.RoleWorker
	if isManager {
		reg.Role = api.RoleManager
	}
	ds, err := s.d.Register(r.Context(), reg)
	if err != nil {
		switch {
		case errors.Is(err, dispatcher.ErrTooManyNodes):
			tooMany(w, http.StatusServiceUnavailable, nodesFullRetry, err.Error())
		case errors.Is(err, dispatcher.ErrInvalidRegistration):
			httpjson.WriteError(w, http.StatusBadRequest, err.Error())
		case errors.Is(err, dispatcher.ErrNodeRemoved):
			httpjson.WriteError(w, http.StatusGone, err.Error())
		case errors.Is(err, dispatcher.ErrNotRunning):
			if s.managers != nil {
				if leader, _ := s.managers(); leader != "" {
					w.Header().Set(headerLeader, leader)
				}
			}
			httpjson.WriteError(w, http.StatusServiceUnavailable, err.Error())
		default:
			httpjson.WriteError(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	ls := &linkSession{id: newSessionID(), s: ds, instance: instance, remote: r.RemoteAddr, logs: make(chan logRequest, maxLogQueue)}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		ds.Close()
		httpjson.WriteError(w, http.StatusServiceUnavailable, "the manager is shutting down")
		return
	}
	// Another agent may have come between the check and here.
	if msg := s.conflictLocked(reg.NodeID, instance); msg != "" {
		s.mu.Unlock()
		ds.Close()
		httpjson.WriteError(w, http.StatusConflict, msg)
		return
	}
	// A node has one agent: a new registration ends the node's older
	// sessions, which their agent gave up on (it registers again) or
	// which belong to an agent that is gone.
	for id, old := range s.sessions {
		if old.s.NodeID() == reg.NodeID {
			delete(s.sessions, id)
			old.s.Close()
		}
	}
	s.sessions[ls.id] = ls
	// The session ends when the agent closes it, when the dispatcher ends
	// it (its node went down, or the dispatcher stopped), or with the
	// server: forget it then, so that a vanished agent leaks nothing.
	// (Added under mu: Close cancels under it, then waits.)
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		select {
		case <-ds.Done():
		case <-s.ctx.Done():
		}
		s.drop(ls.id, ls)
	}()
	s.log.Info("agent registered", "node", reg.NodeID, "addr", reg.Addr, "hostname", reg.Description.Hostname, "remote", r.RemoteAddr)
	ans := registered{SessionID: ls.id}
	if s.managers != nil {
		_, ans.Managers = s.managers()
	}
	httpjson.Write(w, http.StatusOK, ans)
}

// conflict returns why a registration of node by the agent instance is
// refused, or "" when it is not: another agent process serves the node
// and is still connected. Two agents with one node ID (a data folder
// copied to a second machine) would otherwise take the node from each
// other in turn, and both run its tasks.
func (s *Server) conflict(node, instance string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conflictLocked(node, instance)
}

func (s *Server) conflictLocked(node, instance string) string {
	for _, old := range s.sessions {
		if old.s.NodeID() != node || (instance != "" && old.instance == instance) || old.detached.Load() || ended(old.s) {
			continue
		}
		return fmt.Sprintf("another agent serves node %s (connected from %s): is this machine's data folder a copy of that node's? "+
			"Each node needs its own; this agent retries, and gets the node once the other agent is gone", node, old.remote)
	}
	return ""
}

// drop forgets and closes a session, if it is still the one under id.
func (s *Server) drop(id string, ls *linkSession) {
	s.mu.Lock()
	if s.sessions[id] == ls {
		delete(s.sessions, id)
	}
	s.mu.Unlock()
	ls.s.Close()
}

// session finds the request's session, or answers 404.
func (s *Server) session(w http.ResponseWriter, r *http.Request) *linkSession {
	id := r.PathValue("id")
	s.mu.Lock()
	ls := s.sessions[id]
	s.mu.Unlock()
	if ls == nil {
		httpjson.WriteError(w, http.StatusNotFound, fmt.Sprintf("unknown session %q: it ended (the node went down, or the manager restarted); register again", id))
		return nil
	}
	// A session speaks for its node only to that node's certificate.
	if err := nodeOf(r).RequireNode(ls.s.NodeID()); err != nil {
		httpjson.WriteError(w, http.StatusForbidden, err.Error())
		return nil
	}
	return ls
}

// assignments answers with the next change to the node's tasks, waiting
// for one until the agent gives up or the session ends.
func (s *Server) assignments(w http.ResponseWriter, r *http.Request) {
	ls := s.session(w, r)
	if ls == nil {
		return
	}
	if !ls.polling.TryLock() {
		httpjson.WriteError(w, http.StatusConflict, "another assignments request is already waiting on this session")
		return
	}
	defer ls.polling.Unlock()
	ls.detached.Store(false)
	defer func() {
		// Still inside the handler, the request's context ends only when
		// the agent closed its connection.
		if r.Context().Err() != nil {
			ls.detached.Store(true)
		}
	}()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	as, err := ls.s.Assignments(ctx)
	if err != nil {
		switch {
		case r.Context().Err() != nil:
			// The agent went away; nobody reads an answer.
		case errors.Is(err, dispatcher.ErrNotRunning), s.ctx.Err() != nil, ended(ls.s):
			s.drop(ls.id, ls)
			httpjson.WriteError(w, http.StatusGone, fmt.Sprintf("session ended: %v; register again", err))
		default:
			httpjson.WriteError(w, http.StatusInternalServerError, err.Error())
		}
		return
	}
	httpjson.Write(w, http.StatusOK, as)
}

// ended reports whether a dispatcher session has ended.
func ended(ds *dispatcher.Session) bool {
	select {
	case <-ds.Done():
		return true
	default:
		return false
	}
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	ls := s.session(w, r)
	if ls == nil {
		return
	}
	var reports []api.TaskReport
	if !decode(w, r, &reports) {
		return
	}
	if len(reports) > api.MaxReportBatch {
		httpjson.WriteError(w, http.StatusBadRequest, fmt.Sprintf("%d reports in one request, more than %d: send them in smaller batches", len(reports), api.MaxReportBatch))
		return
	}
	for i, rep := range reports {
		if rep.TaskID == "" {
			httpjson.WriteError(w, http.StatusBadRequest, fmt.Sprintf("report %d: missing TaskID", i))
			return
		}
	}
	if err := ls.s.Report(r.Context(), reports); err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, dispatcher.ErrTooManyReports) {
			code = http.StatusBadRequest
		}
		httpjson.WriteError(w, code, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) {
	ls := s.session(w, r)
	if ls == nil {
		return
	}
	period, err := ls.s.Heartbeat(r.Context())
	if err != nil {
		s.drop(ls.id, ls)
		httpjson.WriteError(w, http.StatusGone, fmt.Sprintf("session ended: %v; register again", err))
		return
	}
	httpjson.Write(w, http.StatusOK, heartbeatAnswer{Period: api.Duration(period)})
}

func (s *Server) closeSession(w http.ResponseWriter, r *http.Request) {
	ls := s.session(w, r)
	if ls == nil {
		return
	}
	s.drop(ls.id, ls)
	w.WriteHeader(http.StatusNoContent)
}

func newSessionID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// decode reads a JSON body into v, refusing unknown fields and trailing
// data; on failure it answers 400 (413 when too large) and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeLimit(w, r, v, maxBody)
}

// decodeLimit is decode with a body of at most limit bytes.
func decodeLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	err := httpjson.Decode(w, r, v, limit)
	switch {
	case errors.Is(err, httpjson.ErrTooLarge):
		httpjson.WriteError(w, http.StatusRequestEntityTooLarge, err.Error())
	case err != nil:
		httpjson.WriteError(w, http.StatusBadRequest, "malformed request body: "+strings.TrimPrefix(err.Error(), httpjson.ErrMalformed.Error()+": "))
	}
	return err == nil
}
