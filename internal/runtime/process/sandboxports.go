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
// its virtual IP ($PORT and $SHOAL_PORT_<target> say the same). Every
// port it publishes also answers on a port of the node, as a container's
// does through Docker's port mapping: the runtime holds that port (every
// address) and forwards each connection and UDP flow to the task's
// address on its first network, over that network's bridge, with the
// routing mesh's forwarder (internal/portmesh), for as long as the task
// runs and the agent with it. A port published in host mode answers on
// its published port, any other (ingress mode, or named by the HTTP
// ingress's labels) on a free port. Its endpoint is that node port, so
// the routing mesh of a node that has none of the task's networks
// reaches it on the node's address, exactly as it reaches a container.
// A task on internal networks only publishes nothing, as a container in
// network mode none.

// sandboxPorts returns the environment's ports of a sandboxed task (each
// target port itself) and whether the node forwards its ports.
func sandboxPorts(ports []api.PortConfig, sb *runtime.Sandbox) (env []hostPort, forwarded bool, err error) {
	for _, p := range ports {
		proto := protocol(p.Protocol)
		if proto != "tcp" && proto != "udp" {
			return nil, false, fmt.Errorf("%w: port %d: unsupported protocol %q", runtime.ErrRejected, p.TargetPort, p.Protocol)
		}
		env = append(env, hostPort{target: p.TargetPort, key: portKey{proto: proto, port: int(p.TargetPort)}})
	}
	return env, !sb.Isolated && sb.Addr.IsValid(), nil
}

// endpoints are where the task's ports are reached: on the node's
// address, on the host ports of a task on the host's network (ports) or
// the node's ports forwarded to a sandboxed task (fwd).
func endpoints(ports, fwd []hostPort, nodeAddr string, sb *runtime.Sandbox) []api.TaskEndpoint {
	if sb != nil {
		ports = fwd
	}
	var out []api.TaskEndpoint
	for _, hp := range ports {
		out = append(out, api.TaskEndpoint{TargetPort: hp.target, Protocol: hp.key.proto, Addr: net.JoinHostPort(nodeAddr, strconv.Itoa(hp.key.port))})
	}
	return out
}

// hostModeMaxConns caps the connections and UDP flows one task's
// forwarder holds at once (every port together). Its ports are open to
// anyone, and each connection takes two of the agent's file descriptors,
// which a manager's API, agent port and Raft share.
var hostModeMaxConns = 1024

// forwardState is a node port forwarded to a sandboxed task, as
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
	m := forwardPorts(taskID, addr, fwd)
	if m == nil {
		return nil, nil
	}
	for _, p := range m.Ports() {
		if !p.Listening {
			m.Close()
			return nil, fmt.Errorf("%w: port %s is in use on this node", runtime.ErrRejected, p.Port)
		}
	}
	return m, nil
}

// forwardPorts forwards the node's ports of fwd to the task at addr, each
// it can bind (the forwarder logs the others); nil for no port.
func forwardPorts(taskID string, addr netip.Addr, fwd []forwardState) *portmesh.Mesh {
	if len(fwd) == 0 {
		return nil
	}
	m := portmesh.New(portmesh.Options{MaxConns: hostModeMaxConns, Logger: slog.Default().With("task", taskID, "component", "task ports")})
	svc := &api.Service{ID: "ports-" + taskID, Spec: api.ServiceSpec{Name: "ports of task " + taskID}, Endpoint: &api.Endpoint{}}
	tk := &api.Task{ID: taskID, ServiceID: svc.ID, DesiredState: api.TaskStateRunning, Status: api.TaskStatus{State: api.TaskStateRunning}}
	for _, f := range fwd {
		// The mesh serves ingress-mode ports; here one task is the
		// whole pool.
		svc.Endpoint.Ports = append(svc.Endpoint.Ports, api.PortConfig{TargetPort: f.Target, Protocol: f.Proto, PublishedPort: uint32(f.Port), PublishMode: api.PublishModeIngress})
		tk.Endpoints = append(tk.Endpoints, api.TaskEndpoint{TargetPort: f.Target, Protocol: f.Proto, Addr: net.JoinHostPort(addr.String(), strconv.FormatUint(uint64(f.Target), 10))})
	}
	m.Reset([]*api.Service{svc}, []*api.Task{tk})
	return m
}

// forwardsOf are the node ports of fwd as task.json records them.
func forwardsOf(fwd []hostPort) []forwardState {
	var out []forwardState
	for _, hp := range fwd {
		out = append(out, forwardState{Target: hp.target, Proto: hp.key.proto, Port: hp.key.port})
	}
	return out
}

// forwardedEndpoints keeps the endpoints of eps whose node port m
// forwards. A port another program took while no agent ran answers as
// that program, not as the task: it is no endpoint of the task (the
// agent fails a task that misses a published port for its grace).
func forwardedEndpoints(eps []api.TaskEndpoint, m *portmesh.Mesh) []api.TaskEndpoint {
	bound := map[string]bool{}
	if m != nil {
		for _, p := range m.Ports() {
			bound[p.Port] = p.Listening
		}
	}
	out := []api.TaskEndpoint{}
	for _, ep := range eps {
		_, port, err := net.SplitHostPort(ep.Addr)
		if err == nil && bound[port+"/"+protocol(ep.Protocol)] {
			out = append(out, ep)
		}
	}
	return out
}
