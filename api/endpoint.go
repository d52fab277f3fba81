package api

import (
	"errors"
	"strconv"
)

// Endpoint modes, as Swarm's.
const (
	// EndpointModeVIP gives the service a virtual IP on each of its
	// networks: its name resolves to it, and connections to it are
	// balanced over its tasks. The default.
	EndpointModeVIP = "vip"
	// EndpointModeDNSRR gives no virtual IP: the service's name resolves
	// to its tasks' addresses.
	EndpointModeDNSRR = "dnsrr"
)

// Publish modes.
const (
	PublishModeIngress = "ingress"
	PublishModeHost    = "host"
)

// Endpoint is what the manager allocated for a service's endpoint.
type Endpoint struct {
	// Ports are the spec's ports with their published ports: a
	// target-only port in ingress mode gets one from 30000-32767, kept
	// across updates of the service.
	Ports []PortConfig `json:"Ports,omitempty"`
	// VirtualIPs are the service's addresses, one per network (endpoint
	// mode vip).
	VirtualIPs []EndpointVirtualIP `json:"VirtualIPs,omitempty"`
}

// EndpointVirtualIP is a service's virtual IP on one network.
type EndpointVirtualIP struct {
	NetworkID string `json:"NetworkID"`
	// Addr is the address with its subnet's prefix length, "10.0.1.2/24".
	Addr string `json:"Addr"`
}

// NetworkAttachmentStatus is a task's place on one network.
type NetworkAttachmentStatus struct {
	Network NetworkRef `json:"Network"`
	// Addresses are the task's addresses on the network with the prefix
	// length, ["10.0.1.5/24"].
	Addresses []string `json:"Addresses"`
}

// NetworkRef names a network.
type NetworkRef struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

// EndpointMode returns the endpoint mode, vip by default.
func (e *EndpointSpec) EndpointMode() string {
	if e == nil || e.Mode == "" {
		return EndpointModeVIP
	}
	return e.Mode
}

// Mode returns the port's publish mode, ingress by default.
func (p PortConfig) Mode() string {
	if p.PublishMode == "" {
		return PublishModeIngress
	}
	return p.PublishMode
}

// Proto returns the port's protocol, tcp by default.
func (p PortConfig) Proto() string { return protoOrTCP(p.Protocol) }

// PortsClash reports whether two services can't both publish these ports:
// the same published port and protocol, one of them in ingress mode (the
// routing mesh binds it on every node). Two services may publish a port
// in host mode, as in Swarm: the scheduler keeps their tasks apart.
func PortsClash(a, b PortConfig) bool {
	return a.PublishedPort != 0 && a.PublishedPort == b.PublishedPort && a.Proto() == b.Proto() &&
		(a.Mode() == PublishModeIngress || b.Mode() == PublishModeIngress)
}

// ValidateEndpoint checks the endpoint mode: vip or dnsrr, and dnsrr
// publishes no port in ingress mode (the routing mesh balances over a
// virtual IP, which dnsrr does not have), as Swarm refuses. Each problem
// is a *FieldError with a path from the ServiceSpec ("EndpointSpec.Mode").
func (e *EndpointSpec) ValidateEndpoint() error {
	if e == nil {
		return nil
	}
	var errs []error
	switch e.Mode {
	case "", EndpointModeVIP, EndpointModeDNSRR:
	default:
		errs = append(errs, fieldErr([]string{"EndpointSpec", "Mode"}, "endpoint mode %q: want vip or dnsrr", e.Mode))
	}
	if e.Mode == EndpointModeDNSRR {
		for i, p := range e.Ports {
			if p.Mode() == PublishModeIngress {
				errs = append(errs, fieldErr([]string{"EndpointSpec", "Ports", strconv.Itoa(i), "PublishMode"}, "port %d/%s: ingress mode (the default) cannot be used with endpoint mode dnsrr: publish it with mode=host", p.TargetPort, p.Proto()))
			}
		}
	}
	return errors.Join(errs...)
}
