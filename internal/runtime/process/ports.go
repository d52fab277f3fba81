package process

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// portKey is a host port of one protocol.
type portKey struct {
	proto string
	port  int
}

// hostPort is a target port and the host port allocated for it.
type hostPort struct {
	target uint32
	key    portKey
}

// maxPortTries bounds the attempts to find a port no task of ours holds.
const maxPortTries = 64

// allocatePorts gives every target port a free host port on the node address
// and records them as held by the task. Each port is found by listening on
// port 0; all listeners stay open until every port is found, and a port
// another running task holds (it may not listen yet) is skipped.
func (r *Runtime) allocatePorts(id string, ports []api.PortConfig) ([]hostPort, error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	var out []hostPort
	fail := func(err error) ([]hostPort, error) {
		r.mu.Lock()
		r.releasePorts(id, keysOf(out))
		r.mu.Unlock()
		return nil, err
	}
	for _, p := range ports {
		proto := protocol(p.Protocol)
		if proto != "tcp" && proto != "udp" {
			return fail(fmt.Errorf("%w: port %d: unsupported protocol %q", runtime.ErrRejected, p.TargetPort, p.Protocol))
		}
		found := false
		for try := 0; try < maxPortTries && !found; try++ {
			port, c, err := listenFree(proto)
			if err != nil {
				return fail(fmt.Errorf("allocate host port for %d/%s: %w", p.TargetPort, proto, err))
			}
			closers = append(closers, c)
			key := portKey{proto: proto, port: port}
			r.mu.Lock()
			if _, held := r.ports[key]; !held {
				r.ports[key] = id
				found = true
			}
			r.mu.Unlock()
			if found {
				out = append(out, hostPort{target: p.TargetPort, key: key})
			}
		}
		if !found {
			return fail(fmt.Errorf("allocate host port for %d/%s: no free port found", p.TargetPort, proto))
		}
	}
	return out, nil
}

// protocol returns the lower-case protocol of a port, "tcp" by default.
func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// listenFree listens on port 0 of every address of the host and returns
// the port the kernel gave, with the listener to close. Every address, not
// just the node's: a task commonly listens on all of them (:$PORT), and
// would take a port another node on the same host (a loopback alias)
// holds on its own address.
func listenFree(proto string) (int, io.Closer, error) {
	hp := ":0"
	if proto == "udp" {
		c, err := net.ListenPacket("udp", hp)
		if err != nil {
			return 0, nil, err
		}
		return c.LocalAddr().(*net.UDPAddr).Port, c, nil
	}
	l, err := net.Listen("tcp", hp)
	if err != nil {
		return 0, nil, err
	}
	return l.Addr().(*net.TCPAddr).Port, l, nil
}

// releasePorts frees the ports the task holds. r.mu must be held.
func (r *Runtime) releasePorts(id string, keys []portKey) {
	for _, k := range keys {
		if r.ports[k] == id {
			delete(r.ports, k)
		}
	}
}

// holdPorts records the ports of an adopted task as held. r.mu must be held.
func (r *Runtime) holdPorts(id string, keys []portKey) {
	for _, k := range keys {
		r.ports[k] = id
	}
}

func keysOf(hps []hostPort) []portKey {
	keys := make([]portKey, len(hps))
	for i, hp := range hps {
		keys[i] = hp.key
	}
	return keys
}

// endpointKeys returns the host ports of recorded endpoints.
func endpointKeys(eps []api.TaskEndpoint) []portKey {
	var keys []portKey
	for _, ep := range eps {
		_, p, err := net.SplitHostPort(ep.Addr)
		if err != nil {
			continue
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			continue
		}
		keys = append(keys, portKey{proto: protocol(ep.Protocol), port: port})
	}
	return keys
}
