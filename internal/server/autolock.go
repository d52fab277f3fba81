package server

import (
	"net/http"

	"github.com/shoalproject/shoal/api"
)

func (s *Server) autolockRoutes() {
	s.mux.HandleFunc("POST /v1/swarm/update", s.swarmUpdate)
	s.mux.HandleFunc("GET /v1/swarm/unlockkey", s.unlockKey)
	s.mux.HandleFunc("POST /v1/swarm/unlockkey/rotate", s.rotateUnlockKey)
	// A locked manager answers this with its own server (daemon); an
	// unlocked one has nothing to unlock, as Swarm says.
	s.mux.HandleFunc("POST /v1/swarm/unlock", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusConflict, "swarm is not locked")
	})
}

// swarmUpdate changes the cluster settings the body gives, as Docker's
// POST /swarm/update: the certificate life, then autolock (on, it
// answers the unlock key). A bad expiry is refused before either.
func (s *Server) swarmUpdate(w http.ResponseWriter, r *http.Request) {
	var req api.SwarmUpdate
	if err := decode(w, r, &req); err != nil {
		s.fail(w, err)
		return
	}
	if d := req.CAConfig.NodeCertExpiry; d != 0 {
		if err := s.m.SetCertExpiry(r.Context(), d); err != nil {
			s.fail(w, err)
			return
		}
	}
	if req.Autolock == nil {
		writeJSON(w, http.StatusOK, api.UnlockKey{})
		return
	}
	s.setAutolock(w, r, *req.Autolock, false)
}

func (s *Server) rotateUnlockKey(w http.ResponseWriter, r *http.Request) {
	s.setAutolock(w, r, true, true)
}

func (s *Server) setAutolock(w http.ResponseWriter, r *http.Request, on, rotate bool) {
	if s.SetAutolock == nil {
		writeError(w, http.StatusNotImplemented, "this manager has no autolock")
		return
	}
	key, err := s.SetAutolock(r.Context(), on, rotate)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, api.UnlockKey{UnlockKey: key})
}

// unlockKey answers the current unlock key, empty when autolock is off.
// The API is a 0600 unix socket: only the manager's operators read it.
func (s *Server) unlockKey(w http.ResponseWriter, r *http.Request) {
	if s.UnlockKey == nil {
		writeError(w, http.StatusNotImplemented, "this manager has no autolock")
		return
	}
	key, err := s.UnlockKey()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, api.UnlockKey{UnlockKey: key})
}
