package dockerapi

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, system.VersionResponse{
		Platform:      struct{ Name string }{Name: "shoal"},
		Version:       s.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		Components: []system.ComponentVersion{{Name: "shoal", Version: s.Version,
			Details: map[string]string{"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion}}},
	})
}

// info answers /info with what the docker CLI reads: the Swarm section
// says this node is an active manager (stack deploy checks it).
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	inf, err := s.c.Info(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	nodes, err := s.c.NodeList(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	sw := swarm.Info{NodeID: inf.NodeID, LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true,
		Nodes: len(nodes), Cluster: &swarm.ClusterInfo{}}
	for _, n := range nodes {
		if n.Spec.Role != api.RoleManager {
			continue
		}
		sw.Managers++
		sw.RemoteManagers = append(sw.RemoteManagers, swarm.Peer{NodeID: n.ID, Addr: n.Status.Addr})
		if n.ID == inf.NodeID {
			sw.NodeAddr = hostOf(n.Status.Addr)
		}
	}
	host, _ := os.Hostname()
	writeJSON(w, http.StatusOK, system.Info{
		ID: inf.NodeID, Name: host, ServerVersion: s.Version, OSType: runtime.GOOS, Architecture: runtime.GOARCH,
		OperatingSystem: "shoal", NCPU: runtime.NumCPU(), DockerRootDir: inf.DataDir, Swarm: sw,
		Driver: "shoal", LoggingDriver: "shoal", CgroupVersion: "2",
	})
}

func (s *Server) swarmInspect(w http.ResponseWriter, r *http.Request) {
	sw, err := s.c.SwarmInspect(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	inf, err := s.c.Info(r.Context())
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, swarm.Swarm{
		ClusterInfo: swarm.ClusterInfo{ID: inf.NodeID, Spec: swarm.Spec{Annotations: swarm.Annotations{Name: "default", Labels: map[string]string{}}}},
		JoinTokens:  swarm.JoinTokens{Worker: sw.JoinTokens.Worker, Manager: sw.JoinTokens.Manager},
	})
}

// events relays the cluster's changes as Docker's swarm events (service,
// node, config, secret, network; tasks have no Docker event). shoal keeps
// no event history: since in the past starts now; until ends the stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilters(r, "type", "event", "service", "node", "config", "secret", "network", "scope", "label")
	if err != nil {
		s.fail(w, err)
		return
	}
	ctx := r.Context()
	if v := r.URL.Query().Get("until"); v != "" {
		until, err := parseEventTime(v)
		if err != nil {
			s.fail(w, badf("until: %v", err))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	started := false
	err = s.c.Events(ctx, client.EventFilter{}, func(ev api.Event) error {
		if !started {
			// shoal's stream starts with a sync line once it is
			// subscribed: answering only then, a client that acts
			// after the headers misses none of its own changes.
			started = true
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			if err := rc.Flush(); err != nil {
				return err
			}
		}
		m, ok := eventOut(ev, time.Now())
		if !ok || !f.match("type", string(m.Type)) || !f.match("event", string(m.Action)) || !f.match("scope", "swarm") ||
			!f.match(string(m.Type), m.Actor.ID) && !f.match(string(m.Type), m.Actor.Attributes["name"]) {
			return nil
		}
		_ = rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if err := enc.Encode(m); err != nil {
			return err
		}
		return rc.Flush()
	})
	switch {
	case !started && err != nil && ctx.Err() == nil:
		s.fail(w, err)
	case !started:
		// until came before the stream started: an empty stream.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
	case err != nil && ctx.Err() == nil:
		s.log.Debug("docker API event stream ended", "err", err)
	}
}

// parseEventTime reads Docker's since/until: Unix seconds, with an
// optional fraction.
func parseEventTime(v string) (time.Time, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return time.Time{}, err
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}

// eventOut converts a change of the cluster to Docker's event, if Docker
// has one for it.
func eventOut(ev api.Event, now time.Time) (events.Message, bool) {
	m := events.Message{Action: events.Action(ev.Action), Scope: "swarm", Time: now.Unix(), TimeNano: now.UnixNano(),
		Actor: events.Actor{ID: ev.ID, Attributes: map[string]string{}}}
	types := map[string]events.Type{api.EventService: events.ServiceEventType, api.EventNode: events.NodeEventType,
		api.EventConfig: events.ConfigEventType, api.EventSecret: events.SecretEventType, api.EventNetwork: events.NetworkEventType}
	t, ok := types[ev.Type]
	if !ok {
		return m, false
	}
	m.Type = t
	if name := ev.Name(); name != "" {
		m.Actor.Attributes["name"] = name
	}
	return m, true
}
