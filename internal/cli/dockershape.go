package cli

import (
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dockerapi"
)

// inspect prints docker's shapes (decision, docs/cli.md): the object as
// Docker's API gives it, so that a script's `--format '{{.Version.Index}}'`
// or `{{.Spec.UpdateConfig.Monitor}}` works as with docker, and shoal's own
// object, as its API gives it (docs/api.md), under the top-level key Shoal
// (`--format '{{json .Shoal}}'`): process services, runtimes, a network's
// VNI and the rest docker has no field for.

// serviceView is a service for inspect.
type serviceView struct {
	swarm.Service
	Shoal *api.Service `json:"Shoal"`
}

// nodeView is a node for inspect.
type nodeView struct {
	swarm.Node
	Shoal *api.Node `json:"Shoal"`
}

// networkView is a network for inspect.
type networkView struct {
	network.Inspect
	Shoal *api.Network `json:"Shoal"`
}

// configView is a config for inspect.
type configView struct {
	swarm.Config
	Shoal *api.Config `json:"Shoal"`
}

// secretView is a secret for inspect; neither shape has its data.
type secretView struct {
	swarm.Secret
	Shoal *api.Secret `json:"Shoal"`
}

func serviceViews(svcs []*api.Service) []serviceView {
	out := make([]serviceView, 0, len(svcs))
	for _, s := range svcs {
		d := dockerapi.ServiceOut(s)
		// Swarm's Endpoint.Spec is the spec's endpoint, empty without one.
		if s.Spec.EndpointSpec == nil {
			d.Endpoint.Spec = swarm.EndpointSpec{}
		}
		dockerapi.InsertDefaults(&d.Spec)
		if d.PreviousSpec != nil {
			dockerapi.InsertDefaults(d.PreviousSpec)
		}
		out = append(out, serviceView{Service: d, Shoal: s})
	}
	return out
}

func nodeViews(nodes []*api.Node, leader string) []nodeView {
	out := make([]nodeView, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, nodeView{Node: dockerapi.NodeOut(n, leader), Shoal: n})
	}
	return out
}

func networkViews(nets []*api.Network) []networkView {
	out := make([]networkView, 0, len(nets))
	for _, n := range nets {
		out = append(out, networkView{Inspect: dockerapi.NetworkOut(n), Shoal: n})
	}
	return out
}
