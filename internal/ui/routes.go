package ui

import (
	"cmp"
	"slices"

	"github.com/shoalproject/shoal/api"
)

// routeView is one router of the ingress, with the Traefik service it
// sends to and that service's backends.
type routeView struct {
	Router       string        `json:"router"`
	Service      string        `json:"service"`
	LoadBalancer string        `json:"loadBalancer"`
	Rule         string        `json:"rule"`
	EntryPoints  []string      `json:"entryPoints"`
	Middlewares  []string      `json:"middlewares"`
	Refused      string        `json:"refused,omitempty"`
	Sticky       string        `json:"sticky,omitempty"`
	Backends     []backendView `json:"backends"`
}

type backendView struct {
	Task    string `json:"task"`
	Node    string `json:"node,omitempty"`
	Addr    string `json:"addr"`
	Healthy bool   `json:"healthy"`
}

// viewRoutes names each backend by its task and node, as the services'
// tables do.
func viewRoutes(routes []api.IngressRoute, nodes []*api.Node, tasks []*api.Task) []routeView {
	hostname := map[string]string{}
	for _, n := range nodes {
		hostname[n.ID] = n.Description.Hostname
	}
	byID := map[string]*api.Task{}
	for _, t := range tasks {
		byID[t.ID] = t
	}
	out := make([]routeView, 0, len(routes))
	for _, r := range routes {
		v := routeView{Router: r.Router, Service: r.Service, LoadBalancer: r.LoadBalancer, Rule: r.Rule,
			EntryPoints: orEmpty(r.EntryPoints), Middlewares: orEmpty(r.Middlewares),
			Refused: r.Refused, Sticky: r.StickyCookie, Backends: []backendView{}}
		for _, b := range r.Backends {
			bv := backendView{Task: b.TaskID, Addr: b.Addr, Healthy: b.Healthy}
			if t := byID[b.TaskID]; t != nil {
				bv.Task, bv.Node = t.Name(), cmp.Or(hostname[t.NodeID], t.NodeID)
			}
			v.Backends = append(v.Backends, bv)
		}
		slices.SortFunc(v.Backends, func(a, b backendView) int { return cmp.Compare(a.Task, b.Task) })
		out = append(out, v)
	}
	return out
}

// orEmpty is s, or an empty list for the script rather than null.
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
