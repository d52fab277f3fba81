package ui_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/shoalproject/shoal/api"
)

// routed is a service behind the ingress by its Traefik labels.
func routed(name string, replicas uint64, sticky bool) api.ServiceSpec {
	spec := api.ServiceSpec{Name: name, Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: replicas}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "3600"}}},
		EndpointSpec: &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80}}},
		Labels: map[string]string{
			"traefik.http.routers." + name + ".rule":                      "Host(`" + name + ".localhost`)",
			"traefik.http.services." + name + ".loadbalancer.server.port": "80",
		}}
	if sticky {
		spec.Labels["traefik.http.services."+name+".loadbalancer.sticky.cookie"] = "true"
	}
	return spec
}

// The routing table shows each router with its service, stickiness and
// backends, and follows the cluster live.
func TestBrowserIngressRoutes(t *testing.T) {
	ctx := tab(t, 1440, 900)
	dir := artifacts(t)
	d, c := startCluster(t)
	bg := context.Background()
	for _, spec := range []api.ServiceSpec{routed("shop", 2, true), routed("blog", 1, false)} {
		if _, err := c.ServiceCreate(bg, spec); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "open the login URL", chromedp.Navigate(d.UILoginURL()))
	const shop = `document.querySelector('tr.route[data-route-service="shop"]')`
	waitFor(t, ctx, "shop's router shows with its two healthy backends",
		`(r => !!r && r.querySelectorAll('[data-backend][data-healthy="true"]').length === 2)(`+shop+`)`)
	waitFor(t, ctx, "shop is sticky, blog is not", `!!`+shop+`.querySelector("[data-sticky]") && `+
		`!document.querySelector('tr.route[data-route-service="blog"] [data-sticky]')`)
	waitFor(t, ctx, "the rule shows", `/shop\.localhost/.test(`+shop+`.innerText)`)
	screenshot(t, ctx, dir, "8-routes.png")

	// Scaled through the API: the table follows from the event stream.
	s, err := c.ServiceInspect(bg, "shop")
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Mode.Replicated.Replicas = 3
	if _, err := c.ServiceUpdate(bg, s.ID, s.Version, s.Spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "a third backend shows", `(r => r.querySelectorAll("[data-backend]").length === 3)(`+shop+`)`)
	if err := c.ServiceRemove(bg, "blog"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "blog's router goes", `!document.querySelector('tr.route[data-route-service="blog"]')`)
}
