package dockerapi

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// serviceOut converts a shoal service to Docker's, with its ServiceStatus
// counted from tasks when given (status=true).
func serviceOut(s *api.Service, tasks []*api.Task) swarm.Service {
	out := swarm.Service{
		ID:           s.ID,
		Meta:         metaOut(s.Meta),
		Spec:         serviceSpecOut(s.Spec),
		UpdateStatus: updateStatusOut(s.UpdateStatus),
	}
	if s.PreviousSpec != nil {
		prev := serviceSpecOut(*s.PreviousSpec)
		out.PreviousSpec = &prev
	}
	// Swarm's Endpoint.Spec is empty ({}) until the service has an
	// endpoint: published ports or a network (recorded: api-*-inspect).
	if e := out.Spec.EndpointSpec; e != nil && len(e.Ports) > 0 || len(s.Spec.TaskTemplate.Networks) > 0 {
		out.Endpoint.Spec = swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
		if e != nil {
			out.Endpoint.Spec = *e
			if e.Mode == "" {
				out.Endpoint.Spec.Mode = swarm.ResolutionModeVIP
			}
		}
	}
	if e := s.Endpoint; e != nil {
		out.Endpoint.Ports = portsOut(e.Ports)
		for _, v := range e.VirtualIPs {
			addr, _ := netip.ParsePrefix(v.Addr)
			out.Endpoint.VirtualIPs = append(out.Endpoint.VirtualIPs, swarm.EndpointVirtualIP{NetworkID: v.NetworkID, Addr: addr})
		}
	}
	if tasks != nil {
		st := &swarm.ServiceStatus{}
		for _, t := range tasks {
			if t.ServiceID != s.ID {
				continue
			}
			if t.DesiredState == api.TaskStateRunning || t.DesiredState == api.TaskStateComplete && s.Spec.Mode.IsJob() {
				if s.Spec.Mode.IsGlobal() {
					st.DesiredTasks++
				}
				if t.Status.State == api.TaskStateRunning {
					st.RunningTasks++
				}
			}
			if t.Status.State == api.TaskStateComplete {
				st.CompletedTasks++
			}
		}
		if !s.Spec.Mode.IsGlobal() {
			st.DesiredTasks = s.Spec.Mode.Replicas()
		}
		out.ServiceStatus = st
	}
	return out
}

func metaOut(m api.Meta) swarm.Meta {
	return swarm.Meta{Version: swarm.Version{Index: m.Version}, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func updateStatusOut(u *api.UpdateStatus) *swarm.UpdateStatus {
	if u == nil {
		return nil
	}
	return &swarm.UpdateStatus{State: swarm.UpdateState(u.State), StartedAt: u.StartedAt, CompletedAt: u.CompletedAt, Message: u.Message}
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r, "id", "label", "mode", "name")
	if err != nil {
		s.fail(w, err)
		return
	}
	svcs, err := s.c.ServiceList(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	var tasks []*api.Task
	if ok, _ := strconv.ParseBool(r.URL.Query().Get("status")); ok {
		if tasks, err = s.c.TaskList(r.Context(), client.TaskFilter{}); err != nil {
			s.fail(w, err)
			return
		}
		if tasks == nil {
			tasks = []*api.Task{}
		}
	}
	out := []swarm.Service{}
	for _, svc := range svcs {
		mode := "replicated"
		switch {
		case svc.Spec.Mode.Global != nil:
			mode = "global"
		case svc.Spec.Mode.ReplicatedJob != nil:
			mode = "replicated-job"
		case svc.Spec.Mode.GlobalJob != nil:
			mode = "global-job"
		}
		if !f.matchPrefix("id", svc.ID) || !f.matchPrefix("name", svc.Spec.Name) || !f.matchLabels(svc.Spec.Labels) || !f.match("mode", mode) {
			continue
		}
		out = append(out, serviceOut(svc, tasks))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) inspectService(w http.ResponseWriter, r *http.Request) {
	svc, err := s.c.ServiceInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	out := serviceOut(svc, nil)
	if ok, _ := strconv.ParseBool(r.URL.Query().Get("insertDefaults")); ok {
		insertDefaults(&out.Spec)
		if out.PreviousSpec != nil {
			insertDefaults(out.PreviousSpec)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createService(w http.ResponseWriter, r *http.Request) {
	var spec swarm.ServiceSpec
	if err := decode(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	in, err := serviceSpecIn(spec)
	if err != nil {
		s.fail(w, err)
		return
	}
	svc, err := s.c.ServiceCreate(r.Context(), in)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, swarm.ServiceCreateResponse{ID: svc.ID, Warnings: registryAuthWarnings(r)})
}

func (s *Server) updateService(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	version, err := strconv.ParseUint(q.Get("version"), 10, 64)
	if err != nil {
		s.fail(w, badf("version: want the service's current version index, got %q", q.Get("version")))
		return
	}
	// Where dockerd takes registry credentials from; shoal pulls with the
	// nodes' own, so any of Docker's values is accepted and none other.
	switch from := q.Get("registryAuthFrom"); from {
	case "", "spec", "previous-spec":
	default:
		s.fail(w, badf("invalid registryAuthFrom value %q: want spec or previous-spec", from))
		return
	}
	var spec swarm.ServiceSpec
	if err := decode(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	ref := r.PathValue("id")
	switch rb := q.Get("rollback"); rb {
	case "previous":
		// The CLI sends the previous spec too; shoal's rollback takes
		// it from the service itself, checked against the version.
		cur, err := s.c.ServiceInspect(r.Context(), ref)
		if err != nil {
			s.fail(w, err)
			return
		}
		if cur.Version != version {
			writeError(w, http.StatusConflict, "update out of sequence: the service changed since it was read")
			return
		}
		if _, err := s.c.ServiceRollback(r.Context(), ref, 0); err != nil {
			s.fail(w, err)
			return
		}
	case "":
		in, err := serviceSpecIn(spec)
		if err != nil {
			s.fail(w, err)
			return
		}
		if _, err := s.c.ServiceUpdate(r.Context(), ref, version, in); err != nil {
			s.fail(w, err)
			return
		}
	default:
		s.fail(w, badf("rollback: want \"previous\" or nothing, got %q", rb))
		return
	}
	writeJSON(w, http.StatusOK, swarm.ServiceUpdateResponse{Warnings: registryAuthWarnings(r)})
}

func (s *Server) removeService(w http.ResponseWriter, r *http.Request) {
	if err := s.c.ServiceRemove(r.Context(), r.PathValue("id")); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// joinFields lists field names for a message.
func joinFields(fields []string) string {
	if len(fields) == 1 {
		return fields[0]
	}
	return strings.Join(fields[:len(fields)-1], ", ") + " and " + fields[len(fields)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
