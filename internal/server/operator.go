package server

import (
	"fmt"
	"net/http"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/manager"
)

// issueOperator signs an operator certificate for the caller's request.
// Whoever reaches the API may: the owner of the 0600 socket, or an
// operator on the TCP listener (ca.APIServer refuses everyone else).
func (s *Server) issueOperator(w http.ResponseWriter, r *http.Request) {
	if s.IssueOperator == nil {
		writeError(w, http.StatusNotImplemented, "this manager cannot issue operator certificates")
		return
	}
	var req api.OperatorCertRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, err)
		return
	}
	if err := ca.CheckOperatorName(req.Name); err != nil {
		s.fail(w, fmt.Errorf("%w: %v", manager.ErrInvalid, err))
		return
	}
	out, err := s.IssueOperator(req)
	if err != nil {
		s.fail(w, err)
		return
	}
	by := ca.OperatorName(r.TLS)
	if by == "" {
		by = "(API socket)"
	}
	s.log.Info("operator certificate issued", "name", req.Name, "by", by)
	writeJSON(w, http.StatusOK, out)
}
