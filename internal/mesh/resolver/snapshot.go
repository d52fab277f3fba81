package resolver

import "net/netip"

// Snapshot is everything the resolver answers from: the networks, services
// and tasks the node must know about. The agent builds one from the cluster's
// state and hands it to Resolver.Update whenever that state changes; the
// resolver never modifies it.
type Snapshot struct {
	Networks []Network
	Services []Service
	Tasks    []Task
}

// Network is an overlay network.
type Network struct {
	// ID identifies the network in Service.Networks and Task.Networks.
	ID string
	// Name is the network's name, used in reverse (PTR) answers for task
	// addresses as Docker does ("TASK.NETWORK").
	Name string
	// Internal networks have no route out of the cluster: a task attached
	// only to internal networks gets no answers from upstream resolvers.
	Internal bool
}

// EndpointMode is how a service's name resolves.
type EndpointMode string

const (
	// EndpointVIP resolves the name to the service's virtual IP on the
	// network. The zero value means EndpointVIP, as in Swarm.
	EndpointVIP EndpointMode = "vip"
	// EndpointDNSRR resolves the name to the addresses of the service's ready
	// tasks, in random order.
	EndpointDNSRR EndpointMode = "dnsrr"
)

// Service is a service with the networks it is attached to.
type Service struct {
	ID string
	// Name is the full service name ("stack_a"). It resolves on every network
	// of the service, as does "tasks." + Name.
	Name string
	// Stack is the service's com.docker.stack.namespace label, or empty.
	// Tasks of services in the same stack also resolve the service by its
	// stack-local name (Name without the "STACK_" prefix).
	Stack        string
	EndpointMode EndpointMode
	Networks     []ServiceNetwork
}

// ServiceNetwork is a service's attachment to one network.
type ServiceNetwork struct {
	Network string
	// VIP is the service's virtual IP on the network (endpoint mode vip).
	// While it is not yet allocated (invalid), the name exists but has no
	// address on this network.
	VIP netip.Addr
	// Aliases resolve like the service's name on this network only, as do
	// "tasks." + alias.
	Aliases []string
}

// Task is a task with an address on at least one network.
type Task struct {
	ID      string
	Service string
	// Name is the task's name ("stack_a.1.ID"), used in PTR answers; empty
	// leaves the task's addresses out of reverse lookups.
	Name string
	// Ready is true when the task is running, passes its healthcheck (or has
	// none) and is not being stopped. Only ready tasks are in answers; every
	// task listed can ask questions (a starting task resolves its peers).
	Ready    bool
	Networks []TaskAddress
}

// TaskAddress is a task's address on one network.
type TaskAddress struct {
	Network string
	Addr    netip.Addr
}
