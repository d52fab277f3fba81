// Package server is the HTTP+JSON API of a manager, versioned under /v1.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/httpjson"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/state"
)

// Version is shoal's version, reported by /v1/info.
var Version = "0.1.0-dev"

// HeaderNotWritten is set on a refusal that wrote nothing, because this
// manager was no longer the leader: the request may be sent again.
const HeaderNotWritten = "Shoal-Not-Written"

// MaxBody bounds request bodies (a manager forwarding a write to the
// leader reads no more).
const MaxBody = 4 << 20

// Server answers API requests for one manager.
type Server struct {
	m      *manager.Manager
	nodeID string
	log    *slog.Logger
	mux    *http.ServeMux
	// DataDir is reported by /v1/info.
	DataDir string
	// Logs reads task output; nil answers the logs endpoint with 501.
	Logs LogSource
	// Swarm returns what nodes join with, for GET /v1/swarm; nil
	// answers 501.
	Swarm func() (*api.Swarm, error)
	// RotateJoinToken gives the role ("worker" or "manager") a new join
	// token, for POST /v1/swarm/join-token/{role}/rotate; nil answers 501.
	RotateJoinToken func(ctx context.Context, role string) error
	// RotateCA starts a rotation of the cluster CA, for POST
	// /v1/swarm/ca/rotate; nil answers 501.
	RotateCA func(ctx context.Context) error
	// IssueOperator signs an operator certificate, for POST
	// /v1/swarm/ca/operator (operator.go); nil answers 501.
	IssueOperator func(api.OperatorCertRequest) (*api.OperatorCert, error)
	// IngressRoutes lists the routers of this node's ingress, for GET
	// /v1/ingress/routes; nil answers 501 (the node runs none).
	IngressRoutes func() []api.IngressRoute
	// SetAutolock and UnlockKey serve autolock (autolock.go); nil
	// answers 501.
	SetAutolock func(ctx context.Context, on, rotate bool) (string, error)
	UnlockKey   func() (string, error)
	// EventQueue bounds the events queued for one /v1/events client that
	// falls behind; 0 means api.MaxEventQueue.
	EventQueue int
	// StreamWriteTimeout bounds each write of a stream (events, logs); 0
	// means 30s.
	StreamWriteTimeout time.Duration
}

// New returns the API of manager m, running on node nodeID.
func New(m *manager.Manager, nodeID string, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{m: m, nodeID: nodeID, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /v1/info", s.info)
	s.mux.HandleFunc("GET /v1/services", s.listServices)
	s.mux.HandleFunc("POST /v1/services", s.createService)
	s.mux.HandleFunc("GET /v1/services/{ref}", s.getService)
	s.mux.HandleFunc("POST /v1/services/{ref}/update", s.updateService)
	s.mux.HandleFunc("DELETE /v1/services/{ref}", s.removeService)
	s.mux.HandleFunc("POST /v1/services/{ref}/rollback", s.rollbackService)
	s.mux.HandleFunc("GET /v1/services/{ref}/logs", s.serviceLogs)
	s.mux.HandleFunc("GET /v1/tasks", s.listTasks)
	s.mux.HandleFunc("GET /v1/tasks/{id}", s.getTask)
	s.mux.HandleFunc("GET /v1/nodes", s.listNodes)
	s.mux.HandleFunc("GET /v1/nodes/{ref}", s.getNode)
	s.mux.HandleFunc("POST /v1/nodes/{ref}/update", s.updateNode)
	s.mux.HandleFunc("DELETE /v1/nodes/{ref}", s.removeNode)
	s.mux.HandleFunc("POST /v1/nodes/{ref}/demote", s.demoteNode)
	s.mux.HandleFunc("POST /v1/nodes/{ref}/promote", s.promoteNode)
	s.mux.HandleFunc("GET /v1/events", s.events)
	s.mux.HandleFunc("GET /v1/swarm", s.swarm)
	s.mux.HandleFunc("GET /v1/ingress/routes", s.ingressRoutes)
	s.mux.HandleFunc("POST /v1/swarm/join-token/{role}/rotate", s.rotateJoinToken)
	s.mux.HandleFunc("POST /v1/swarm/ca/rotate", s.rotateCA)
	s.mux.HandleFunc("POST /v1/swarm/ca/operator", s.issueOperator)
	s.objectRoutes()
	s.autolockRoutes()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such API endpoint: %s %s", r.Method, r.URL.Path))
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.Error{Message: msg})
}

// fail maps an error to its status code and writes it.
func (s *Server) fail(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, state.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, manager.ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, manager.ErrConflict), errors.Is(err, state.ErrNameConflict), errors.Is(err, state.ErrVersionConflict), errors.Is(err, state.ErrInUse):
		code = http.StatusConflict
	case errors.Is(err, cluster.ErrNotLeader):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusServiceUnavailable
	case errors.Is(err, httpjson.ErrTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, state.ErrAmbiguous):
		// An ID prefix or hostname that matches several objects is the
		// caller's mistake, as in docker.
		code = http.StatusBadRequest
	}
	msg := err.Error()
	// The sentinel prefixes say nothing a user needs.
	for _, p := range []string{manager.ErrInvalid.Error() + ": ", manager.ErrConflict.Error() + ": "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if code == http.StatusInternalServerError {
		s.log.Error("api request failed", "err", err)
	}
	if errors.Is(err, cluster.ErrNotWritten) {
		// The manager may send the request on to the leader.
		w.Header().Set(HeaderNotWritten, "1")
	}
	writeError(w, code, msg)
}

// decode reads a JSON body of at most MaxBody into v (httpjson.Decode);
// a malformed one is manager.ErrInvalid (400).
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	err := httpjson.Decode(w, r, v, MaxBody)
	if errors.Is(err, httpjson.ErrMalformed) {
		return fmt.Errorf("%w: %v", manager.ErrInvalid, err)
	}
	return err
}

// swarm answers the join tokens and where agents join. The API is a 0600
// unix socket, so only the manager's operators read them.
func (s *Server) swarm(w http.ResponseWriter, r *http.Request) {
	if s.Swarm == nil {
		writeError(w, http.StatusNotImplemented, "this manager has no join tokens")
		return
	}
	sw, err := s.Swarm()
	if err != nil {
		s.fail(w, err)
		return
	}
	tx := s.m.Store().Read()
	sw.DefaultAddrPool, sw.SubnetSize = tx.AddrPool()
	sw.Spec.CAConfig.NodeCertExpiry = tx.CertExpiry()
	if sw.Spec.CAConfig.NodeCertExpiry == 0 {
		sw.Spec.CAConfig.NodeCertExpiry = ca.DefaultCertExpiry
	}
	writeJSON(w, http.StatusOK, sw)
}

// rotateCA starts a rotation of the cluster CA; GET /v1/swarm shows its
// progress.
func (s *Server) rotateCA(w http.ResponseWriter, r *http.Request) {
	if s.RotateCA == nil {
		writeError(w, http.StatusNotImplemented, "this manager cannot rotate the cluster CA")
		return
	}
	if err := s.RotateCA(r.Context()); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ingressRoutes lists what this node's ingress serves.
func (s *Server) ingressRoutes(w http.ResponseWriter, r *http.Request) {
	if s.IngressRoutes == nil {
		writeError(w, http.StatusNotImplemented, "this node runs no ingress (--ingress off)")
		return
	}
	writeJSON(w, http.StatusOK, s.IngressRoutes())
}

// rotateJoinToken gives a role a new join token; the client reads it
// with GET /v1/swarm.
func (s *Server) rotateJoinToken(w http.ResponseWriter, r *http.Request) {
	if s.RotateJoinToken == nil {
		writeError(w, http.StatusNotImplemented, "this manager cannot rotate join tokens")
		return
	}
	role := r.PathValue("role")
	if role != "worker" && role != "manager" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown role %q: want worker or manager", role))
		return
	}
	if err := s.RotateJoinToken(r.Context(), role); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.Info{NodeID: s.nodeID, Version: Version, IsLeader: s.m.IsLeader(), Leader: s.m.Raft().LeaderID(), DataDir: s.DataDir})
}
