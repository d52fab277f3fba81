package server

import (
	"net/http"
	"sort"

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
	ref := r.PathValue("ref")
	if ref == "self" {
		ref = s.nodeID
	}
	n, err := s.m.Store().Read().FindNode(ref)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}
