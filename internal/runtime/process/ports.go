package process

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

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

// allocatePorts gives every target port a host port and records them as
// held by the task. A port published in host mode gets exactly its
// published port (Swarm's mode=host: the task answers on it), refused
// when another task or program holds it. Any other port gets a free one,
// found by listening on port 0, skipping a port another running task
// holds (it may not listen yet). All listeners stay open until every port
// is found.
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
		if p.Mode() == api.PublishModeHost && p.PublishedPort != 0 {
			hp, c, err := r.holdHostPort(id, p.TargetPort, proto, int(p.PublishedPort))
			if err != nil {
				return fail(err)
			}
			closers = append(closers, c)
			out = append(out, hp)
			continue
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

// holdHostPort takes the published port of a host-mode port for the task:
// it must be free on every address (the task may listen on all of them),
// and not held by another task of this node that may not listen yet. The
// scheduler places no two tasks publishing a host-mode port on one node,
// so a clash means something outside shoal holds the port.
func (r *Runtime) holdHostPort(id string, target uint32, proto string, port int) (hostPort, io.Closer, error) {
	key := portKey{proto: proto, port: port}
	r.mu.Lock()
	holder, held := r.ports[key]
	if !held {
		r.ports[key] = id
	}
	r.mu.Unlock()
	if held && holder != id {
		return hostPort{}, nil, fmt.Errorf("%w: host-mode port %d/%s is held by task %s on this node", runtime.ErrRejected, port, proto, holder)
	}
	_, c, err := listenPort(proto, port)
	if err != nil {
		r.mu.Lock()
		r.releasePorts(id, []portKey{key})
		r.mu.Unlock()
		return hostPort{}, nil, fmt.Errorf("%w: host-mode port %d/%s is in use on this node: %v", runtime.ErrRejected, port, proto, err)
	}
	return hostPort{target: target, key: key}, c, nil
}

// protocol returns the lower-case protocol of a port, "tcp" by default.
func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// listenFree finds a free port: it binds port 0 of every address of the
// host and returns the port the kernel gave, with the socket to close.
// Every address, not just the node's: a task commonly listens on all of
// them (:$PORT), and would take a port another node on the same host (a
// loopback alias) holds on its own address. See listenPort for why this
// exposes nothing.
func listenFree(proto string) (int, io.Closer, error) {
	return listenPort(proto, 0)
}

// listenPort binds port of every address of the host (0: any free port),
// as the task will (dual-stack), and
// returns the port, with the socket to close. A TCP socket is bound but
// never listens, so it accepts nothing: a connection in the meantime is
// refused as by a closed port, and nothing is ever exposed. A UDP socket
// is bound and never read from or written to: a datagram in the meantime
// is dropped with it, and nothing answers.
func listenPort(proto string, port int) (int, io.Closer, error) {
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	fd, err := unix.Socket(unix.AF_INET6, typ|unix.SOCK_CLOEXEC, 0)
	v6 := err == nil
	if !v6 {
		fd, err = unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (int, io.Closer, error) {
		unix.Close(fd)
		return 0, nil, fmt.Errorf("%s %s port %d: %w", what, proto, port, err)
	}
	// A given port is taken as the task's listener will take it, past
	// the TIME_WAIT connections of its last task; port 0 gets one no
	// socket uses at all.
	if port != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("reuse", err)
		}
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port}
	if v6 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
			return fail("dual-stack", err)
		}
		sa = &unix.SockaddrInet6{Port: port}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fail("name", err)
	}
	switch a := got.(type) {
	case *unix.SockaddrInet6:
		port = a.Port
	case *unix.SockaddrInet4:
		port = a.Port
	}
	return port, fdCloser(fd), nil
}

// fdCloser closes a socket made with unix.Socket.
type fdCloser int

func (f fdCloser) Close() error { return unix.Close(int(f)) }

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
