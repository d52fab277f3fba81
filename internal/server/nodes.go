package server

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/shoalproject/shoal/api"
)

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	nodes := s.m.Store().Read().Nodes()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Description.Hostname < nodes[j].Description.Hostname })
	if nodes == nil {
		nodes = []*api.Node{}
	}
	writeJSON(w, http.StatusOK, nodes)
}

func (s *Server) getNode(w http.ResponseWriter, r *http.Request) {
	n, err := s.m.Store().Read().FindNode(s.nodeRef(r))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// updateNode sets a node's spec (availability, operator labels);
// ?version=N makes it conditional.
func (s *Server) updateNode(w http.ResponseWriter, r *http.Request) {
	version, ok := versionParam(w, r)
	if !ok {
		return
	}
	var spec api.NodeSpec
	if err := decode(w, r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	n, err := s.m.UpdateNode(r.Context(), s.nodeRef(r), version, spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// removeNode removes a down node, or with ?force=true one that is up.
func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) {
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	if err := s.m.RemoveNode(r.Context(), s.nodeRef(r), force); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// demoteNode makes a manager a worker (manager.DemoteNode).
func (s *Server) demoteNode(w http.ResponseWriter, r *http.Request) {
	if err := s.m.DemoteNode(r.Context(), s.nodeRef(r)); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// promoteNode makes a worker a manager (manager.PromoteNode).
func (s *Server) promoteNode(w http.ResponseWriter, r *http.Request) {
	if err := s.m.PromoteNode(r.Context(), s.nodeRef(r)); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// nodeRef is the request's node reference; "self" is this node.
func (s *Server) nodeRef(r *http.Request) string {
	if ref := r.PathValue("ref"); ref != "self" {
		return ref
	}
	return s.nodeID
}
