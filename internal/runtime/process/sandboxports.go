package process

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/portmesh"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Ports of sandboxed tasks.
//
// In its own network namespace a task listens on its target ports, as a
// container does, so that other tasks reach it on SERVICE:TARGET through
// its virtual IP ($PORT and $SHOAL_PORT_<target> say the same). Its
// endpoint for a port is its address on its first network, which the
// node reaches over that network's bridge: the routing mesh and the HTTP
// ingress dial it there. A port published in host mode must also answer
// on the node's own port, as it does for a task on the host's network:
// the runtime holds that port (every address) and forwards each
// connection and UDP flow to the task, with the routing mesh's
// forwarder (internal/portmesh), for as long as the task runs and the
// agent with it. A task on internal networks only publishes nothing, as
// a container in network mode none.

// sandboxPorts returns the environment's ports of a sandboxed task (each
// target port itself) and those published in host mode.
func sandboxPorts(ports []api.PortConfig, sb *runtime.Sandbox) (env []hostPort, hostMode []api.PortConfig, err error) {
	for _, p := range ports {
		proto := protocol(p.Protocol)
		if proto != "tcp" && proto != "udp" {
			return nil, nil, fmt.Errorf("%w: port %d: unsupported protocol %q", runtime.ErrRejected, p.TargetPort, p.Protocol)
		}
		env = append(env, hostPort{target: p.TargetPort, key: portKey{proto: proto, port: int(p.TargetPort)}})
		if p.Mode() == api.PublishModeHost && !sb.Isolated {
			hostMode = append(hostMode, p)
		}
	}
	return env, hostMode, nil
}

// endpoints are where the task's ports are reached: on the node's address
// for a task on the host's network (ports) or for a sandboxed task's
// host-mode ports (fwd), on its own address for its other ports.
func endpoints(ports, fwd []hostPort, nodeAddr string, sb *runtime.Sandbox) []api.TaskEndpoint {
	var out []api.TaskEndpoint
	add := func(hp hostPort, addr string) {
		out = append(out, api.TaskEndpoint{TargetPort: hp.target, Protocol: hp.key.proto, Addr: net.JoinHostPort(addr, strconv.Itoa(hp.key.port))})
	}
	if sb == nil {
		for _, hp := range ports {
			add(hp, nodeAddr)
		}
		return out
	}
	if sb.Isolated || !sb.Addr.IsValid() {
		return nil
	}
	forwarded := map[portKey]int{}
	for _, hp := range fwd {
		forwarded[portKey{proto: hp.key.proto, port: int(hp.target)}]++
		add(hp, nodeAddr)
	}
	for _, hp := range ports {
		if k := (portKey{proto: hp.key.proto, port: int(hp.target)}); forwarded[k] > 0 {
			forwarded[k]--
			continue
		}
		add(hp, sb.Addr.String())
	}
	return out
}

// hostModeMaxConns caps the connections and UDP flows one task's
// host-mode forwarder holds at once (every port together). Its port is
// open to anyone, and each connection takes two of the agent's file
// descriptors, which a manager's API, agent port and Raft share.
var hostModeMaxConns = 1024

// forwardState is a host-mode port forwarded to a sandboxed task, as
// task.json records it.
type forwardState struct {
	Target uint32 `json:"Target"`
	Proto  string `json:"Proto"`
	Port   int    `json:"Port"`
}

// startForwards forwards the node's ports of fwd to the task at addr,
// and reports the first that cannot be bound. The mesh returned (nil for
// no port) is closed when the task ends.
func startForwards(taskID string, addr netip.Addr, fwd []forwardState) (*portmesh.Mesh, error) {
	if len(fwd) == 0 {
		return nil, nil
	}
	m := portmesh.New(portmesh.Options{MaxConns: hostModeMaxConns, Logger: slog.Default().With("task", taskID, "component", "host-mode ports")})
	svc := &api.Service{ID: "host-mode-" + taskID, Spec: api.ServiceSpec{Name: "host-mode ports of task " + taskID}, Endpoint: &api.Endpoint{}}
	tk := &api.Task{ID: taskID, ServiceID: svc.ID, DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStateRunning}}
	for _, f := range fwd {
		// The mesh serves ingress-mode ports; here one task is the
		// whole pool.
		svc.Endpoint.Ports = append(svc.Endpoint.Ports, api.PortConfig{TargetPort: f.Target, Protocol: f.Proto, PublishedPort: uint32(f.Port), PublishMode: api.PublishModeIngress})
		tk.Endpoints = append(tk.Endpoints, api.TaskEndpoint{TargetPort: f.Target, Protocol: f.Proto, Addr: net.JoinHostPort(addr.String(), strconv.FormatUint(uint64(f.Target), 10))})
	}
	m.Reset([]*api.Service{svc}, []*api.Task{tk})
	for _, p := range m.Ports() {
		if !p.Listening {
			m.Close()
			return nil, fmt.Errorf("%w: host-mode port %s is in use on this node", runtime.ErrRejected, p.Port)
		}
	}
	return m, nil
}

// forwardsOf are the host-mode ports of fwd as task.json records them.
func forwardsOf(fwd []hostPort) []forwardState {
	var out []forwardState
	for _, hp := range fwd {
		out = append(out, forwardState{Target: hp.target, Proto: hp.key.proto, Port: hp.key.port})
	}
	return out
}
