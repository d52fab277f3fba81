package server

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/shoalproject/shoal/api"
)

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	svcs := s.m.Store().Read().Services()
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Spec.Name < svcs[j].Spec.Name })
	if svcs == nil {
		svcs = []*api.Service{}
	}
	writeJSON(w, http.StatusOK, svcs)
}

func (s *Server) createService(w http.ResponseWriter, r *http.Request) {
	var spec api.ServiceSpec
	if err := decode(w, r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	svc, err := s.m.CreateService(r.Context(), spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, svc)
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.m.Store().Read().FindService(r.PathValue("ref"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, svc)
}

func (s *Server) updateService(w http.ResponseWriter, r *http.Request) {
	var version uint64
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "version: want a number, got "+strconv.Quote(v))
			return
		}
		version = n
	}
	var spec api.ServiceSpec
	if err := decode(w, r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	svc, err := s.m.UpdateService(r.Context(), r.PathValue("ref"), version, spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, svc)
}

func (s *Server) removeService(w http.ResponseWriter, r *http.Request) {
	if err := s.m.RemoveService(r.Context(), r.PathValue("ref")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rollbackService puts back the previous spec, or ?to=REVISION from the
// service's history.
func (s *Server) rollbackService(w http.ResponseWriter, r *http.Request) {
	var to uint64
	if v := r.URL.Query().Get("to"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			writeError(w, http.StatusBadRequest, "to: want a revision number, got "+strconv.Quote(v))
			return
		}
		to = n
	}
	svc, err := s.m.RollbackService(r.Context(), r.PathValue("ref"), to)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, svc)
}
