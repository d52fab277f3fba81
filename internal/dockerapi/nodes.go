package dockerapi

import (
	"net"
	"net/http"
	"strconv"

	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/api"
)

// nodeOut converts a shoal node to Docker's; leader is the leading
// manager's node ID.
func nodeOut(n *api.Node, leader string) swarm.Node {
	out := swarm.Node{
		ID:   n.ID,
		Meta: metaOut(n.Meta),
		Spec: swarm.NodeSpec{
			Annotations:  swarm.Annotations{Labels: nonNil(n.Spec.Labels)},
			Role:         swarm.NodeRole(n.Spec.Role),
			Availability: swarm.NodeAvailability(n.Spec.Availability),
		},
		Description: swarm.NodeDescription{
			Hostname: n.Description.Hostname,
			Platform: swarm.Platform{OS: n.Description.Platform.OS, Architecture: n.Description.Platform.Architecture},
			Resources: swarm.Resources{NanoCPUs: n.Description.Resources.NanoCPUs,
				MemoryBytes: n.Description.Resources.MemoryBytes},
			Engine: swarm.EngineDescription{EngineVersion: n.Description.EngineVersion, Labels: n.Description.EngineLabels},
		},
		Status: swarm.NodeStatus{State: swarm.NodeState(n.Status.State), Message: n.Status.Message, Addr: hostOf(n.Status.Addr)},
	}
	if n.Spec.Role == api.RoleManager {
		ms := &swarm.ManagerStatus{Leader: n.ID == leader, Reachability: swarm.ReachabilityReachable, Addr: n.Status.Addr}
		if n.Status.State == api.NodeStateDown {
			ms.Reachability = swarm.ReachabilityUnreachable
		}
		out.ManagerStatus = ms
	}
	return out
}

// hostOf is addr without its port, as Docker's NodeStatus.Addr.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func (s *Server) leader(r *http.Request) string {
	info, err := s.c.Info(r.Context())
	if err != nil {
		return ""
	}
	return info.Leader
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r, "id", "label", "membership", "name", "node.label", "role")
	if err != nil {
		s.fail(w, err)
		return
	}
	nodes, err := s.c.NodeList(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	leader := s.leader(r)
	out := []swarm.Node{}
	for _, n := range nodes {
		if !f.matchPrefix("id", n.ID) || !f.matchPrefix("name", n.Description.Hostname) || !f.match("role", n.Spec.Role) ||
			!f.match("membership", "accepted") || !f.matchLabels(n.Description.EngineLabels) ||
			!(filters{"label": f["node.label"]}).matchLabels(n.Spec.Labels) {
			continue
		}
		out = append(out, nodeOut(n, leader))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) inspectNode(w http.ResponseWriter, r *http.Request) {
	n, err := s.c.NodeInspect(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, nodeOut(n, s.leader(r)))
}

func (s *Server) updateNode(w http.ResponseWriter, r *http.Request) {
	version, err := strconv.ParseUint(r.URL.Query().Get("version"), 10, 64)
	if err != nil {
		s.fail(w, badf("version: want the node's current version index, got %q", r.URL.Query().Get("version")))
		return
	}
	var spec swarm.NodeSpec
	if err := decode(r, &spec); err != nil {
		s.fail(w, err)
		return
	}
	ref := r.PathValue("id")
	cur, err := s.c.NodeInspect(r.Context(), ref)
	if err != nil {
		s.fail(w, err)
		return
	}
	if spec.Name != "" {
		s.fail(w, badf("shoal does not support node names (Spec.Name): a node is named by its hostname"))
		return
	}
	role := string(spec.Role)
	switch {
	case role == "" || role == cur.Spec.Role:
	case role == api.RoleWorker:
		if err := s.c.NodeDemote(r.Context(), cur.ID); err != nil {
			s.fail(w, err)
			return
		}
		// The demotion changed the node: the rest applies to its new
		// version.
		if cur, err = s.c.NodeInspect(r.Context(), cur.ID); err != nil {
			s.fail(w, err)
			return
		}
		version = cur.Version
	default:
		s.fail(w, badf("shoal cannot promote a node through the Docker API: start `shoal manager --join` on it"))
		return
	}
	next := cur.Spec
	if spec.Availability != "" {
		next.Availability = string(spec.Availability)
	}
	next.Labels = spec.Labels
	if _, err := s.c.NodeUpdate(r.Context(), cur.ID, version, next); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) removeNode(w http.ResponseWriter, r *http.Request) {
	force, _ := strconv.ParseBool(r.URL.Query().Get("force"))
	if err := s.c.NodeRemove(r.Context(), r.PathValue("id"), force); err != nil {
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
