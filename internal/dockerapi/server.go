// Package dockerapi serves the Docker Engine API's swarm endpoints in
// front of shoal's own API, so that the docker CLI and other Docker
// clients (DOCKER_HOST=unix://DATA/docker.sock) manage a shoal cluster.
//
// It is a translator only: every call becomes a call of shoal's API
// through its Go client, so validation, forwarding to the leader and every
// limit stay where they are. Docker's JSON shapes come from
// github.com/moby/moby/api/types; a field shoal cannot honour is refused
// with a message naming it, never dropped.
package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/shoalproject/shoal/client"
)

// API versions served. The docker CLI negotiates down to APIVersion from
// /_ping; MinAPIVersion is the oldest whose swarm endpoints match these
// shapes (Engine 20.10's, the oldest this machine's CLI and Swarm speak).
const (
	APIVersion    = "1.47"
	MinAPIVersion = "1.41"
)

// MaxBody bounds a request body, as shoal's own API does.
const MaxBody = 4 << 20

// Server answers Docker Engine API requests with shoal's API.
type Server struct {
	c   *client.Client
	log *slog.Logger
	mux *http.ServeMux
	// Version is shoal's version, reported as the engine's.
	Version string
}

// New returns a server that answers through c.
func New(c *client.Client, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{c: c, log: log, mux: http.NewServeMux(), Version: "dev"}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /_ping", s.ping)
	s.mux.HandleFunc("HEAD /_ping", s.ping)
	s.mux.HandleFunc("GET /version", s.version)
	s.mux.HandleFunc("GET /info", s.info)
	s.mux.HandleFunc("GET /swarm", s.swarmInspect)

	s.mux.HandleFunc("GET /services", s.listServices)
	s.mux.HandleFunc("POST /services/create", s.createService)
	s.mux.HandleFunc("GET /services/{id}", s.inspectService)
	s.mux.HandleFunc("POST /services/{id}/update", s.updateService)
	s.mux.HandleFunc("DELETE /services/{id}", s.removeService)
	s.mux.HandleFunc("GET /services/{id}/logs", s.serviceLogs)

	s.mux.HandleFunc("GET /tasks", s.listTasks)
	s.mux.HandleFunc("GET /tasks/{id}", s.inspectTask)

	s.mux.HandleFunc("GET /nodes", s.listNodes)
	s.mux.HandleFunc("GET /nodes/{id}", s.inspectNode)
	s.mux.HandleFunc("POST /nodes/{id}/update", s.updateNode)
	s.mux.HandleFunc("DELETE /nodes/{id}", s.removeNode)

	s.mux.HandleFunc("GET /configs", s.listConfigs)
	s.mux.HandleFunc("POST /configs/create", s.createConfig)
	s.mux.HandleFunc("GET /configs/{id}", s.inspectConfig)
	s.mux.HandleFunc("DELETE /configs/{id}", s.removeConfig)
	s.mux.HandleFunc("GET /secrets", s.listSecrets)
	s.mux.HandleFunc("POST /secrets/create", s.createSecret)
	s.mux.HandleFunc("GET /secrets/{id}", s.inspectSecret)
	s.mux.HandleFunc("DELETE /secrets/{id}", s.removeSecret)

	s.mux.HandleFunc("GET /networks", s.listNetworks)
	s.mux.HandleFunc("POST /networks/create", s.createNetwork)
	s.mux.HandleFunc("GET /networks/{id}", s.inspectNetwork)
	s.mux.HandleFunc("DELETE /networks/{id}", s.removeNetwork)

	s.mux.HandleFunc("GET /events", s.events)

	// No registry: the CLI asks for an image's digest before it pins it
	// in a spec; "not found" makes it warn and go on with the tag.
	s.mux.HandleFunc("GET /distribution/{name...}", s.noRegistry)
	s.mux.HandleFunc("/", s.notShoals)
}

// versioned matches the /vX.Y prefix of a versioned path.
var versioned = regexp.MustCompile(`^/v(\d+)\.(\d+)(/.*)$`)

// ServeHTTP strips the API version from the path (refusing one outside
// what is served) and answers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Api-Version", APIVersion)
	w.Header().Set("Server", "shoal/"+s.Version+" ("+runtime.GOOS+")")
	if m := versioned.FindStringSubmatch(r.URL.Path); m != nil {
		v := m[1] + "." + m[2]
		if versionLess(v, MinAPIVersion) || versionLess(APIVersion, v) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("client version %s is not supported: shoal serves API versions %s to %s", v, MinAPIVersion, APIVersion))
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = m[3]
		r2.URL.RawPath = ""
		r = r2
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	}
	s.mux.ServeHTTP(w, r)
}

// versionLess compares API versions "X.Y" numerically.
func versionLess(a, b string) bool {
	am, an := splitVersion(a)
	bm, bn := splitVersion(b)
	return am < bm || (am == bm && an < bn)
}

func splitVersion(v string) (int, int) {
	major, minor, _ := strings.Cut(v, ".")
	x, _ := strconv.Atoi(major)
	y, _ := strconv.Atoi(minor)
	return x, y
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Swarm", "active/manager")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", "0")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("OK"))
}

func (s *Server) noRegistry(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, fmt.Sprintf("no registry is configured: shoal cannot resolve %s to a digest; the tag is used as it is", r.PathValue("name")))
}

func (s *Server) notShoals(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotImplemented, fmt.Sprintf("%s %s is not served by shoal: it serves the swarm endpoints (services, tasks, nodes, configs, secrets, networks, events); run containers through services", r.Method, r.URL.Path))
}

// writeJSON answers v with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers Docker's error shape, {"message": …}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"message": msg})
}

// fail answers err: an error of shoal's API keeps its status, a refused
// request body is 400 (413 past MaxBody), anything else is 500.
func (s *Server) fail(w http.ResponseWriter, err error) {
	var apiErr *client.Error
	var tooBig *http.MaxBytesError
	var bad *badRequest
	switch {
	case errors.As(err, &apiErr):
		writeError(w, apiErr.StatusCode, dockerMessage(apiErr.StatusCode, apiErr.Message))
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", tooBig.Limit))
	case errors.As(err, &bad):
		writeError(w, http.StatusBadRequest, bad.msg)
	case errors.Is(err, context.Canceled):
		// The client left.
	default:
		s.log.Warn("docker API call failed", "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

// badRequest is a request shoal cannot honour as sent.
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func badf(format string, args ...any) error {
	return &badRequest{msg: fmt.Sprintf(format, args...)}
}

// decode reads a JSON body into v, naming what is wrong.
func decode(r *http.Request, v any) error {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badf("invalid JSON body: %v", err)
	}
	return nil
}
