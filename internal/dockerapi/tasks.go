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

// taskOut converts a shoal task to Docker's.
func taskOut(t *api.Task) swarm.Task {
	out := swarm.Task{
		ID:           t.ID,
		Meta:         metaOut(t.Meta),
		Annotations:  swarm.Annotations{Labels: map[string]string{}},
		ServiceID:    t.ServiceID,
		Slot:         int(t.Slot),
		NodeID:       t.NodeID,
		DesiredState: swarm.TaskState(t.DesiredState.String()),
		Status: swarm.TaskStatus{
			Timestamp: t.Status.Timestamp,
			State:     swarm.TaskState(t.Status.State.String()),
			Message:   t.Status.Message,
			Err:       t.Status.Err,
		},
	}
	spec := api.ServiceSpec{TaskTemplate: t.Spec}
	out.Spec = serviceSpecOut(spec).TaskTemplate
	// As Swarm's tasks of services the docker CLI made (it always sends
	// empty resources and placement), and with no Runtime (recorded:
	// api-task-inspect).
	out.Spec.Runtime = ""
	fillEmpty(&out.Spec)
	if id := t.Status.RuntimeID; id != "" || t.Status.ExitCode != nil {
		cs := &swarm.ContainerStatus{}
		if t.Spec.Runtime() == api.RuntimeDocker {
			cs.ContainerID = id
		} else if pid, err := strconv.Atoi(id); err == nil {
			cs.PID = pid
		}
		if t.Status.ExitCode != nil {
			cs.ExitCode = *t.Status.ExitCode
		}
		out.Status.ContainerStatus = cs
	}
	for _, e := range t.Endpoints {
		// Published host-mode ports, as Docker lists them.
		if _, port, ok := strings.Cut(e.Addr, ":"); ok {
			if n, err := strconv.ParseUint(port, 10, 32); err == nil && hostPublished(t, e.TargetPort) {
				out.Status.PortStatus.Ports = append(out.Status.PortStatus.Ports, swarm.PortConfig{
					Protocol: "tcp", TargetPort: e.TargetPort, PublishedPort: uint32(n), PublishMode: swarm.PortConfigPublishModeHost})
			}
		}
	}
	for _, na := range t.NetworksAttachments {
		att := swarm.NetworkAttachment{
			Network: swarm.Network{ID: na.Network.ID, Spec: swarm.NetworkSpec{Annotations: swarm.Annotations{Name: na.Network.Name, Labels: map[string]string{}}}},
		}
		for _, a := range na.Addresses {
			if p, err := netip.ParsePrefix(a); err == nil {
				att.Addresses = append(att.Addresses, p)
			}
		}
		out.NetworksAttachments = append(out.NetworksAttachments, att)
	}
	return out
}

// hostPublished reports whether t's spec publishes target in host mode.
func hostPublished(t *api.Task, target uint32) bool {
	if t.Endpoint == nil {
		return false
	}
	for _, p := range t.Endpoint.Ports {
		if p.TargetPort == target && p.PublishMode == api.PublishModeHost {
			return true
		}
	}
	return false
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	// _up-to-date is the docker CLI's progress filter: tasks of the
	// service's current spec.
	f, err := parseFilters(r, "desired-state", "id", "label", "name", "node", "service", "runtime", "_up-to-date")
	if err != nil {
		s.fail(w, err)
		return
	}
	// Services and nodes may be named by name, ID or ID prefix: resolve
	// them to IDs as Swarm does.
	services, err := s.resolveServices(r, f["service"])
	if err != nil {
		s.fail(w, err)
		return
	}
	nodes, err := s.resolveNodes(r, f["node"])
	if err != nil {
		s.fail(w, err)
		return
	}
	tasks, err := s.c.TaskList(r.Context(), client.TaskFilter{})
	if err != nil {
		s.fail(w, err)
		return
	}
	var specVersion map[string]uint64
	if _, ok := f["_up-to-date"]; ok {
		svcs, err := s.c.ServiceList(r.Context())
		if err != nil {
			s.fail(w, err)
			return
		}
		specVersion = map[string]uint64{}
		for _, svc := range svcs {
			specVersion[svc.ID] = svc.SpecVersion
		}
	}
	out := []swarm.Task{}
	for _, t := range tasks {
		name := t.ServiceName + "." + strconv.FormatUint(t.Slot, 10)
		if t.Slot == 0 {
			name = t.ServiceName + "." + t.NodeID
		}
		if services != nil && !services[t.ServiceID] || nodes != nil && !nodes[t.NodeID] ||
			!f.match("desired-state", t.DesiredState.String()) || !f.matchPrefix("id", t.ID) ||
			!f.matchPrefix("name", name) || !f.matchLabels(t.ServiceLabels) ||
			specVersion != nil && t.SpecVersion != specVersion[t.ServiceID] {
			continue
		}
		out = append(out, taskOut(t))
	}
	writeJSON(w, http.StatusOK, out)
}

// resolveServices maps service references to the IDs they name; nil when
// refs is empty (no filter). A reference naming nothing matches nothing.
func (s *Server) resolveServices(r *http.Request, refs []string) (map[string]bool, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	svcs, err := s.c.ServiceList(r.Context())
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, ref := range refs {
		for _, svc := range svcs {
			if svc.ID == ref || svc.Spec.Name == ref || strings.HasPrefix(svc.ID, ref) {
				ids[svc.ID] = true
			}
		}
	}
	return ids, nil
}

// resolveNodes is resolveServices for nodes (ID, hostname or ID prefix).
func (s *Server) resolveNodes(r *http.Request, refs []string) (map[string]bool, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	nodes, err := s.c.NodeList(r.Context())
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, ref := range refs {
		for _, n := range nodes {
			if n.ID == ref || n.Description.Hostname == ref || strings.HasPrefix(n.ID, ref) {
				ids[n.ID] = true
			}
		}
	}
	return ids, nil
}

func (s *Server) inspectTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.c.TaskInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, taskOut(t))
}
