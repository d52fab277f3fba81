package api

// Size limits of configs and secrets, as Swarm's.
const (
	MaxSecretSize = 500 * 1024
	MaxConfigSize = 1000 * 1024
)

// Config is a named, immutable file for tasks.
type Config struct {
	ID string `json:"ID"`
	Meta
	Spec ConfigSpec `json:"Spec"`
}

// ConfigSpec is a config's name, labels and content.
type ConfigSpec struct {
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels,omitempty"`
	Data   []byte            `json:"Data,omitempty"`
}

// Secret is a named, immutable, sensitive file for tasks. Its data never
// leaves the managers except to the agent of a node that runs a task that
// names it; the API never returns it.
type Secret struct {
	ID string `json:"ID"`
	Meta
	Spec SecretSpec `json:"Spec"`
}

// SecretSpec is a secret's name, labels and content.
type SecretSpec struct {
	Name   string            `json:"Name"`
	Labels map[string]string `json:"Labels,omitempty"`
	Data   []byte            `json:"Data,omitempty"`
}

// Network is a named network tasks attach to.
type Network struct {
	ID string `json:"ID"`
	Meta
	Spec NetworkSpec `json:"Spec"`
	// IPAM is the subnet and gateway the manager gave the network: the
	// spec's, or one cut from the cluster's address pool.
	IPAM *IPAM `json:"IPAM,omitempty"`
	// DriverState is the overlay's state: the network's VXLAN ID.
	DriverState *NetworkDriverState `json:"DriverState,omitempty"`
}

// IPAM is a network's address management, as in docker network inspect.
type IPAM struct {
	// Driver is "default": the manager's own.
	Driver string       `json:"Driver,omitempty"`
	Config []IPAMConfig `json:"Config,omitempty"`
}

// IPAMConfig is one subnet of a network and its gateway.
type IPAMConfig struct {
	// Subnet is in CIDR form, "10.0.1.0/24".
	Subnet string `json:"Subnet,omitempty"`
	// Gateway is an address of the subnet, by default its first host
	// address ("10.0.1.1").
	Gateway string `json:"Gateway,omitempty"`
}

// DefaultIPAMDriver is the only IPAM driver: the manager's allocator.
const DefaultIPAMDriver = "default"

// NetworkDriverState is what the manager allocated for a network's
// driver.
type NetworkDriverState struct {
	Name string `json:"Name"`
	// VNI is the network's VXLAN ID, unique in the cluster; Swarm's
	// overlay hands them out from 4097.
	VNI uint32 `json:"VNI"`
}

// Subnet returns the network's allocated subnet and gateway, empty when
// it has none (a network stored before allocation existed).
func (n *Network) Subnet() (subnet, gateway string) {
	if n.IPAM == nil || len(n.IPAM.Config) == 0 {
		return "", ""
	}
	return n.IPAM.Config[0].Subnet, n.IPAM.Config[0].Gateway
}

// NetworkSpec describes a network.
type NetworkSpec struct {
	Name       string            `json:"Name"`
	Labels     map[string]string `json:"Labels,omitempty"`
	Driver     string            `json:"Driver,omitempty"`
	Attachable bool              `json:"Attachable,omitempty"`
	Internal   bool              `json:"Internal,omitempty"`
	// IPAM asks for a subnet (and a gateway); without it the network gets
	// a subnet from the cluster's address pool.
	IPAM *IPAM `json:"IPAM,omitempty"`
}

// StackNamespaceLabel marks what a stack created, as Swarm does.
const StackNamespaceLabel = "com.docker.stack.namespace"

// StackImageLabel is the service label docker stack deploy sets to the
// image as the stack file names it (before any digest is resolved).
const StackImageLabel = "com.docker.stack.image"
