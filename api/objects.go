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
}

// NetworkSpec describes a network.
type NetworkSpec struct {
	Name       string            `json:"Name"`
	Labels     map[string]string `json:"Labels,omitempty"`
	Driver     string            `json:"Driver,omitempty"`
	Attachable bool              `json:"Attachable,omitempty"`
	Internal   bool              `json:"Internal,omitempty"`
}

// StackNamespaceLabel marks what a stack created, as Swarm does.
const StackNamespaceLabel = "com.docker.stack.namespace"
