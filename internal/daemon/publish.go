package daemon

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/portmesh"
)

// PublishConfig sets up a node's routing mesh: the listeners of the
// ports services publish in ingress mode.
type PublishConfig struct {
	// Addr is the IP address published ports are bound on: "0.0.0.0"
	// (every address, as Swarm), or one address, so that several nodes
	// can share a host. Empty runs no mesh.
	Addr string
	// MaxConns caps the connections and UDP flows forwarded at once; 0
	// sizes it from the open-file limit (publishMaxConns).
	MaxConns int
}

// startMesh starts the routing mesh; whoever starts it feeds it the
// cluster's services and tasks.
func startMesh(cfg PublishConfig, log *slog.Logger) (*portmesh.Mesh, error) {
	addr := cfg.Addr
	if ip := net.ParseIP(addr); ip == nil {
		return nil, fmt.Errorf("invalid --publish-addr %q: want an IP address (0.0.0.0 for every address)", addr)
	} else if ip.IsUnspecified() {
		addr = "" // both IPv4 and IPv6, as Swarm
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("invalid --publish-max-conns %d: want 0 (from the open-file limit) or more", cfg.MaxConns)
	}
	max := cfg.MaxConns
	if max == 0 {
		max = proxyShare(openFileLimit())
	}
	return portmesh.New(portmesh.Options{Addr: addr, MaxConns: max, Logger: log}), nil
}

// routeSink is what follows the cluster's services and tasks: the HTTP
// ingress's table and the routing mesh.
type routeSink interface {
	Reset(services []*api.Service, tasks []*api.Task)
	Apply(events ...api.Event)
}

// sinks feeds every sink the same changes.
type sinks []routeSink

func (s sinks) Reset(services []*api.Service, tasks []*api.Task) {
	for _, k := range s {
		k.Reset(services, tasks)
	}
}

func (s sinks) Apply(events ...api.Event) {
	for _, k := range s {
		k.Apply(events...)
	}
}
