// Package ui is shoal's web dashboard: a page of nodes, stacks, services
// and their tasks that updates live, with the operator's everyday
// actions (scale, force update, roll back, remove). Managers serve it on
// a TCP listener of the operator's choosing (--ui). The page, its
// stylesheet and its script are embedded; no build step makes them.
//
// The dashboard talks to the manager's API through shoal's Go client on
// the API socket, so every action goes through the API's validation and
// its forwarding to the leader. A browser authenticates with a one-time
// login token (a URL that `shoal dev` and `shoal ui url` print), which
// it exchanges for a session cookie; every state-changing request is a
// POST with the session's CSRF token from the page's own origin.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/httpjson"
)

//go:embed static
var static embed.FS

var page = template.Must(template.ParseFS(static, "static/index.html"))

// maxActionBody bounds an action's request body.
const maxActionBody = 4 << 10

// Config sets up a dashboard.
type Config struct {
	// Client reaches the manager's API.
	Client *client.Client
	// Hosts are the Host headers the listener answers to; empty: any.
	Hosts  []string
	Logger *slog.Logger
}

// Server is a dashboard.
type Server struct {
	c     *client.Client
	hosts []string
	log   *slog.Logger
	auth  *auth
	relay *relay
	mux   *http.ServeMux
}

// New makes a dashboard; Run relays the cluster's events to it.
func New(cfg Config) *Server {
	s := &Server{c: cfg.Client, hosts: cfg.Hosts, log: cfg.Logger, auth: newAuth(), relay: newRelay(), mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	assets, _ := fs.Sub(static, "static")
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusFound) })
	s.mux.HandleFunc("GET /ui/login", s.login)
	s.mux.Handle("GET /ui/{$}", s.authed(http.HandlerFunc(s.index)))
	s.mux.Handle("GET /ui/static/", s.authed(http.StripPrefix("/ui/static/", http.FileServerFS(assets))))
	s.mux.Handle("GET /ui/api/state", s.authed(http.HandlerFunc(s.state)))
	s.mux.Handle("GET /ui/api/events", s.authed(http.HandlerFunc(s.relay.serveEvents)))
	s.mux.Handle("POST /ui/api/services/{id}/{action}", s.authed(s.csrf(http.HandlerFunc(s.action))))
	return s
}

// Run relays the API's events to the browsers until ctx ends.
func (s *Server) Run(ctx context.Context) {
	s.relay.run(ctx, s.c, func(err error) { s.log.Warn("dashboard: event stream broke; reconnecting", "err", err) })
}

// CloseStreams ends the browsers' event streams, so that an
// http.Server's Shutdown need not wait for them (RegisterOnShutdown).
func (s *Server) CloseStreams() { s.relay.close() }

// NewLoginToken makes a one-time login token, good for LoginTokenTTL.
func (s *Server) NewLoginToken() string { return s.auth.newLoginToken() }

// LoginPath is the path, with its query, that logs a browser in with token.
func LoginPath(token string) string { return "/ui/login?token=" + token }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.serve(w, r, s.hosts) }

// Routed serves the requests a node's ingress routes to the dashboard
// (api@internal). The router's rule chose their Host, so any is
// served: the Host check guards a loopback listener against DNS
// rebinding, and a rebound name carries no session cookie of the host
// the operator logged in at. The login, session, CSRF and Origin checks
// stand, and the dashboard reads no X-Forwarded-* header.
func (s *Server) Routed() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, nil) })
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, hosts []string) {
	h := w.Header()
	// The page loads only its own script and style, is never framed,
	// and sends no Referer (the login URL holds a token).
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if !hostAllowed(r, hosts) {
		http.Error(w, "unknown host "+r.Host, http.StatusMisdirectedRequest)
		return
	}
	s.mux.ServeHTTP(w, r)
}

type ctxKey struct{}

// authed serves only requests of a live session.
func (s *Server) authed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := s.auth.session(r)
		if sess == nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "not logged in: open the login URL that `shoal dev` printed, or print a new one with `shoal ui url`", http.StatusUnauthorized)
			return
		}
		// A stream ends with its session.
		ctx, cancel := context.WithDeadline(context.WithValue(r.Context(), ctxKey{}, sess), sess.expires)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// csrf serves only requests from this UI's pages: same origin, with the
// session's CSRF token, as JSON (which no HTML form can send).
func (s *Server) csrf(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess := r.Context().Value(ctxKey{}).(*session)
		ct := r.Header.Get("Content-Type")
		if !sameOrigin(r) || !validCSRF(r, sess) || !strings.HasPrefix(ct, "application/json") {
			http.Error(w, "refused: cross-site request or missing CSRF token", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, _, ok := s.auth.login(r.URL.Query().Get("token"))
	if !ok {
		http.Error(w, "this login link is used or expired: print a new one with `shoal ui url`", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/ui/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(SessionTTL / time.Second)})
	// A redirect takes the token out of the address bar and history.
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	sess := r.Context().Value(ctxKey{}).(*session)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := page.Execute(w, map[string]string{"CSRF": sess.csrf}); err != nil {
		s.log.Warn("dashboard: render page", "err", err)
	}
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	nodes, err := s.c.NodeList(ctx)
	if err != nil {
		apiError(w, err)
		return
	}
	services, err := s.c.ServiceList(ctx)
	if err != nil {
		apiError(w, err)
		return
	}
	tasks, err := s.c.TaskList(ctx, client.TaskFilter{})
	if err != nil {
		apiError(w, err)
		return
	}
	st := buildState(nodes, services, tasks)
	routes, err := s.c.IngressRoutes(ctx)
	var ce *client.Error
	switch {
	case errors.As(err, &ce) && ce.StatusCode == http.StatusNotImplemented:
		// This manager runs no ingress: no table to show.
	case err != nil:
		apiError(w, err)
		return
	default:
		st.Ingress, st.Routes = true, viewRoutes(routes, nodes, tasks)
	}
	writeJSON(w, http.StatusOK, st)
}

// actionRequest is an action's body.
type actionRequest struct {
	Replicas *uint64 `json:"replicas,omitempty"`
	To       uint64  `json:"to,omitempty"`
}

func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	var req actionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, api.Error{Message: "bad request: " + err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	id := r.PathValue("id")
	var err error
	switch r.PathValue("action") {
	case "scale":
		if req.Replicas == nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Message: "scale needs replicas"})
			return
		}
		err = s.update(ctx, id, func(spec *api.ServiceSpec) error { return scale(spec, *req.Replicas) })
	case "force":
		err = s.update(ctx, id, func(spec *api.ServiceSpec) error { spec.TaskTemplate.ForceUpdate++; return nil })
	case "rollback":
		_, err = s.c.ServiceRollback(ctx, id, req.To)
	case "remove":
		err = s.c.ServiceRemove(ctx, id)
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		apiError(w, err)
		return
	}
	s.log.Info("dashboard action", "action", r.PathValue("action"), "service", id)
	writeJSON(w, http.StatusOK, api.Error{Message: "ok"})
}

// update changes service id's spec with change, reading it again when
// another writer changed it meanwhile (as `shoal service update`).
func (s *Server) update(ctx context.Context, id string, change func(*api.ServiceSpec) error) error {
	for attempt := 1; ; attempt++ {
		svc, err := s.c.ServiceInspect(ctx, id)
		if err != nil {
			return err
		}
		spec := svc.Spec
		if err := change(&spec); err != nil {
			return err
		}
		_, err = s.c.ServiceUpdate(ctx, svc.ID, svc.Version, spec)
		if client.IsConflict(err) && attempt < 5 {
			continue
		}
		return err
	}
}

// errBadScale is a scale the service's mode refuses.
var errBadScale = errors.New("scale can only be used with replicated mode")

func scale(spec *api.ServiceSpec, n uint64) error {
	switch m := spec.Mode; {
	case m.Replicated != nil:
		spec.Mode = api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: n}}
	case m.ReplicatedJob != nil:
		spec.Mode = api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: m.ReplicatedJob.MaxConcurrent, TotalCompletions: n}}
	default:
		return errBadScale
	}
	return nil
}

// apiError passes on the API's answer: its status and message.
func apiError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	var e *client.Error
	switch {
	case errors.As(err, &e) && e.StatusCode != 0:
		code = e.StatusCode
	case errors.Is(err, errBadScale):
		code = http.StatusBadRequest
	}
	writeJSON(w, code, api.Error{Message: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, code, v)
}
