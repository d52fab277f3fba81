// Package netagent owns a node's side of the overlay networks: from what
// the agent tells it (a task started with its networks, a task stopped,
// the cluster view changed) it drives internal/mesh (bridges, VXLAN, a
// veth per task and network) and the embedded DNS resolver
// (internal/mesh/resolver), which it serves inside each task's namespace
// at 127.0.0.11.
//
// The kernel holds the plumbing, so an agent restart finds it again:
// Attach of a task already plumbed only listens for its DNS again, and
// Prune removes what no task of the node needs any more.
//
// Off Linux (netagent_other.go) there are no network namespaces: New
// fails with errors.ErrUnsupported and the node reports networks
// unsupported (internal/agent, describe.go).
package netagent

import "github.com/shoalproject/shoal/api"

// Request is a task to plumb.
type Request struct {
	Task *api.Task
	// Networks are the task's networks by ID (from the assignments).
	Networks map[string]*api.Network
	// NetNS is the path of the task's network namespace.
	NetNS string
	// EngineRoute says the task's default route is its runtime's own
	// interface (a container on Docker's bridge), so the overlay
	// interfaces get none.
	EngineRoute bool
}
