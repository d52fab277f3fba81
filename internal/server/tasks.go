package server

import (
	"net/http"
	"sort"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/manager"
)

// listTasks lists tasks, filtered by ?service=REF, ?node=REF (or "self")
// and ?desired-state=running|shutdown|accepted.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	tx := s.m.Store().Read()
	q := r.URL.Query()
	var tasks []*api.Task
	switch {
	case q.Get("service") != "":
		svc, err := tx.FindService(q.Get("service"))
		if err != nil {
			s.fail(w, err)
			return
		}
		tasks = tx.TasksByService(svc.ID)
	case q.Get("node") != "":
		ref := q.Get("node")
		if ref == "self" {
			ref = s.nodeID
		}
		n, err := tx.FindNode(ref)
		if err != nil {
			s.fail(w, err)
			return
		}
		tasks = tx.TasksByNode(n.ID)
	default:
		tasks = tx.Tasks()
	}
	if ref := q.Get("node"); ref != "" && q.Get("service") != "" {
		if ref == "self" {
			ref = s.nodeID
		}
		n, err := tx.FindNode(ref)
		if err != nil {
			s.fail(w, err)
			return
		}
		tasks = filterTasks(tasks, func(t *api.Task) bool { return t.NodeID == n.ID })
	}
	if ds := q.Get("desired-state"); ds != "" {
		want, err := api.ParseTaskState(ds)
		if err != nil {
			s.fail(w, errInvalid(err))
			return
		}
		tasks = filterTasks(tasks, func(t *api.Task) bool { return t.DesiredState == want })
	}
	sort.Slice(tasks, func(i, j int) bool {
		a, b := tasks[i], tasks[j]
		if a.ServiceName != b.ServiceName {
			return a.ServiceName < b.ServiceName
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.NodeID != b.NodeID {
			return a.NodeID < b.NodeID
		}
		return a.CreatedAt.After(b.CreatedAt)
	})
	if tasks == nil {
		tasks = []*api.Task{}
	}
	writeJSON(w, http.StatusOK, tasks)
}

func filterTasks(ts []*api.Task, keep func(*api.Task) bool) []*api.Task {
	out := ts[:0:0]
	for _, t := range ts {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

func errInvalid(err error) error { return &wrapped{manager.ErrInvalid, err} }

type wrapped struct{ kind, err error }

func (w *wrapped) Error() string   { return w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.kind, w.err} }

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.m.Store().Read().FindTask(r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}
