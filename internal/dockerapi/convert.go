package dockerapi

import (
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/api"
)

// The exported converters give shoal's objects in Docker's shapes to the
// CLI, whose inspect prints what docker's prints (docs/cli.md).

// ServiceOut is service s as Docker's API gives it (no ServiceStatus).
func ServiceOut(s *api.Service) swarm.Service { return serviceOut(s, nil) }

// NodeOut is node n as Docker's API gives it; leader is the leading
// manager's node ID.
func NodeOut(n *api.Node, leader string) swarm.Node { return nodeOut(n, leader) }

// NetworkOut is network n as Docker's API gives it.
func NetworkOut(n *api.Network) network.Inspect { return networkOut(n) }

// ConfigOut is config c as Docker's API gives it.
func ConfigOut(c *api.Config) swarm.Config { return configOut(c) }

// SecretOut is secret c as Docker's API gives it, without its data.
func SecretOut(c *api.Secret) swarm.Secret { return secretOut(c) }

// InsertDefaults fills in what shoal uses when a spec leaves it out, as
// inspect?insertDefaults=true does (shoal's CLI shows services so).
func InsertDefaults(s *swarm.ServiceSpec) { insertDefaults(s) }
