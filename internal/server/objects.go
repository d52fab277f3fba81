package server

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/shoalproject/shoal/api"
)

// objectRoutes serves configs, secrets and networks. A secret's data is
// never returned: not by inspect, list, create or update, nor in events.
func (s *Server) objectRoutes() {
	s.mux.HandleFunc("GET /v1/configs", s.listConfigs)
	s.mux.HandleFunc("POST /v1/configs", s.createConfig)
	s.mux.HandleFunc("GET /v1/configs/{ref}", s.getConfig)
	s.mux.HandleFunc("POST /v1/configs/{ref}/update", s.updateConfig)
	s.mux.HandleFunc("DELETE /v1/configs/{ref}", s.removeConfig)
	s.mux.HandleFunc("GET /v1/secrets", s.listSecrets)
	s.mux.HandleFunc("POST /v1/secrets", s.createSecret)
	s.mux.HandleFunc("GET /v1/secrets/{ref}", s.getSecret)
	s.mux.HandleFunc("POST /v1/secrets/{ref}/update", s.updateSecret)
	s.mux.HandleFunc("DELETE /v1/secrets/{ref}", s.removeSecret)
	s.mux.HandleFunc("GET /v1/networks", s.listNetworks)
	s.mux.HandleFunc("POST /v1/networks", s.createNetwork)
	s.mux.HandleFunc("GET /v1/networks/{ref}", s.getNetwork)
	s.mux.HandleFunc("DELETE /v1/networks/{ref}", s.removeNetwork)
}

// publicSecret is a secret as the API shows it: without its data.
func publicSecret(sec *api.Secret) *api.Secret {
	out := *sec
	out.Spec.Data = nil
	return &out
}

// scrubEvent keeps configs' and secrets' data out of the event stream.
func scrubEvent(ev api.Event) api.Event {
	if ev.Secret != nil && ev.Secret.Spec.Data != nil {
		ev.Secret = publicSecret(ev.Secret)
	}
	if ev.Config != nil && ev.Config.Spec.Data != nil {
		c := *ev.Config
		c.Spec.Data = nil
		ev.Config = &c
	}
	return ev
}

// versionParam reads ?version=N (0 when absent); ok is false once an
// error was written.
func versionParam(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	v := r.URL.Query().Get("version")
	if v == "" {
		return 0, true
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, "version: want a number, got "+strconv.Quote(v))
		return 0, false
	}
	return n, true
}

func (s *Server) listConfigs(w http.ResponseWriter, r *http.Request) {
	cfgs := s.m.Store().Read().Configs()
	sort.Slice(cfgs, func(i, j int) bool { return cfgs[i].Spec.Name < cfgs[j].Spec.Name })
	if cfgs == nil {
		cfgs = []*api.Config{}
	}
	writeJSON(w, http.StatusOK, cfgs)
}

func (s *Server) createConfig(w http.ResponseWriter, r *http.Request) {
	var spec api.ConfigSpec
	if err := decode(w, r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	c, err := s.m.CreateConfig(r.Context(), spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	c, err := s.m.Store().Read().FindConfig(r.PathValue("ref"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// updateConfig changes a config's labels: the body is its spec, whose name
// and data must be absent or unchanged.
func (s *Server) updateConfig(w http.ResponseWriter, r *http.Request) {
	version, ok := versionParam(w, r)
	if !ok {
		return
	}
	var spec api.ConfigSpec
	if err := decode(w, r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	c, err := s.m.UpdateConfig(r.Context(), r.PathValue("ref"), version, spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) removeConfig(w http.ResponseWriter, r *http.Request) {
	if err := s.m.RemoveConfig(r.Context(), r.PathValue("ref")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	secs := s.m.Store().Read().Secrets()
	sort.Slice(secs, func(i, j int) bool { return secs[i].Spec.Name < secs[j].Spec.Name })
	out := make([]*api.Secret, 0, len(secs))
	for _, sec := range secs {
		out = append(out, publicSecret(sec))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createSecret(w http.ResponseWriter, r *http.Request) {
	var spec api.SecretSpec
	if err := decode(w, r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	sec, err := s.m.CreateSecret(r.Context(), spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, publicSecret(sec))
}

func (s *Server) getSecret(w http.ResponseWriter, r *http.Request) {
	sec, err := s.m.Store().Read().FindSecret(r.PathValue("ref"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, publicSecret(sec))
}

// updateSecret changes a secret's labels: the body is its spec, whose name
// must be absent or unchanged and whose data must be absent.
func (s *Server) updateSecret(w http.ResponseWriter, r *http.Request) {
	version, ok := versionParam(w, r)
	if !ok {
		return
	}
	var spec api.SecretSpec
	if err := decode(w, r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	sec, err := s.m.UpdateSecret(r.Context(), r.PathValue("ref"), version, spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, publicSecret(sec))
}

func (s *Server) removeSecret(w http.ResponseWriter, r *http.Request) {
	if err := s.m.RemoveSecret(r.Context(), r.PathValue("ref")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request) {
	nets := s.m.Store().Read().Networks()
	sort.Slice(nets, func(i, j int) bool { return nets[i].Spec.Name < nets[j].Spec.Name })
	if nets == nil {
		nets = []*api.Network{}
	}
	writeJSON(w, http.StatusOK, nets)
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request) {
	var spec api.NetworkSpec
	if err := decode(w, r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	n, err := s.m.CreateNetwork(r.Context(), spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, n)
}

func (s *Server) getNetwork(w http.ResponseWriter, r *http.Request) {
	n, err := s.m.Store().Read().FindNetwork(r.PathValue("ref"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) removeNetwork(w http.ResponseWriter, r *http.Request) {
	if err := s.m.RemoveNetwork(r.Context(), r.PathValue("ref")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
