package api

import "time"

// Node roles, availabilities and states.
const (
	RoleManager = "manager"
	RoleWorker  = "worker"

	AvailabilityActive = "active"
	AvailabilityPause  = "pause"
	AvailabilityDrain  = "drain"

	NodeStateUnknown = "unknown"
	NodeStateReady   = "ready"
	NodeStateDown    = "down"
)

// Node is a machine that runs tasks.
type Node struct {
	ID string `json:"ID"`
	Meta
	Spec        NodeSpec        `json:"Spec"`
	Description NodeDescription `json:"Description"`
	Status      NodeStatus      `json:"Status"`
}

// NodeSpec is what an operator sets on a node.
type NodeSpec struct {
	Role         string            `json:"Role"`
	Availability string            `json:"Availability"`
	Labels       map[string]string `json:"Labels,omitempty"`
}

// NodeDescription is what a node reports of itself.
type NodeDescription struct {
	Hostname     string            `json:"Hostname"`
	Platform     Platform          `json:"Platform"`
	Resources    Resources         `json:"Resources"`
	Runtimes     []string          `json:"Runtimes"`
	EngineLabels map[string]string `json:"EngineLabels,omitempty"`
	// EngineVersion is the version of the shoal binary the node runs.
	EngineVersion string `json:"EngineVersion,omitempty"`
	// ListenAddr is the cluster port (IP:PORT) the node serves once
	// promoted to manager (`shoal agent --listen-addr`); empty when its
	// agent was started without one, and `node promote` refuses it.
	ListenAddr string `json:"ListenAddr,omitempty"`
	// Unsupported names the features the node cannot offer, as its agent
	// reports them of itself: FeatureNetworks on a Windows node, which has
	// no network namespaces. A list of what is missing, not of what is
	// there, so an agent from before the field (Linux, everything
	// supported) keeps its tasks.
	Unsupported []string `json:"Unsupported,omitempty"`
}

// FeatureNetworks is attaching tasks to shoal networks (network
// namespaces, overlay, VIPs and service DNS).
const FeatureNetworks = "networks"

// Supports reports whether the node offers the named feature.
func (d NodeDescription) Supports(feature string) bool {
	for _, f := range d.Unsupported {
		if f == feature {
			return false
		}
	}
	return true
}

// Platform is an operating system and CPU architecture.
type Platform struct {
	OS           string `json:"OS"`
	Architecture string `json:"Architecture"`
}

// NodeStatus is the node's health as the managers see it.
type NodeStatus struct {
	State         string    `json:"State"`
	Addr          string    `json:"Addr,omitempty"`
	Message       string    `json:"Message,omitempty"`
	LastHeartbeat time.Time `json:"LastHeartbeat,omitempty"`
	// Session is the session of the agent that registered last
	// (NodeRegistration.Session).
	Session string `json:"Session,omitempty"`
	// DownSince is when the node was marked down, set by the store (the
	// leader's clock) and kept while it stays down; nil when it is not
	// down. Its tasks are orphaned once it has been down for the
	// cluster's orphan period.
	DownSince *time.Time `json:"DownSince,omitempty"`
}

// HasRuntime reports whether the node offers the named runtime.
func (n *Node) HasRuntime(name string) bool {
	for _, r := range n.Description.Runtimes {
		if r == name {
			return true
		}
	}
	return false
}
