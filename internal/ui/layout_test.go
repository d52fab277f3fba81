package ui_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/shoalproject/shoal/api"
)

// TestBrowserLayoutWith100Services: a hundred services, some with long
// names and commands, fit a laptop's screen: no horizontal overflow,
// one line per service.
func TestBrowserLayoutWith100Services(t *testing.T) {
	ctx := tab(t, 1366, 768)
	dir := artifacts(t)
	d, c := startCluster(t)
	for i := range 100 {
		name := fmt.Sprintf("svc-%03d", i)
		cmd := []string{"sleep", "3600"}
		if i%10 == 1 {
			name = fmt.Sprintf("a-service-with-a-rather-long-name-that-goes-on-and-on-%03d", i)
			cmd = []string{"sh", "-c", "exec sleep 3600", strings.Repeat("--an-argument-that-is-long ", 8)}
		}
		spec := api.ServiceSpec{Name: name, Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: uint64(i % 2)}},
			TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: cmd}}}
		if i%5 == 0 { // a fifth are behind the ingress
			r := routed(name, 1, i%10 == 0)
			spec.Labels, spec.EndpointSpec = r.Labels, r.EndpointSpec
		}
		if i%4 == 0 {
			if spec.Labels == nil {
				spec.Labels = map[string]string{}
			}
			spec.Labels[api.StackNamespaceLabel] = fmt.Sprintf("stack-%d", i%3)
		}
		if _, err := c.ServiceCreate(context.Background(), spec); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, "open the login URL", chromedp.Navigate(d.UILoginURL()))
	waitFor(t, ctx, "100 services show", `document.querySelectorAll("tr.svc").length === 100`)
	waitFor(t, ctx, "their tasks run", `document.querySelector("#degraded b").textContent === "0"`)
	waitFor(t, ctx, "20 routers show", `document.querySelectorAll("tr.route").length === 20`)
	// Clicked from the page's script: a row found by the driver may be
	// redrawn by a reload before its click lands.
	do(t, ctx, "open a long one", chromedp.Evaluate[chromedp.Void](`document.querySelector('tr.svc[data-service^="a-service-with"] td').click()`))
	waitFor(t, ctx, "its tasks show", `!!document.querySelector("table[data-tasks] tr[data-task]")`)
	screenshot(t, ctx, dir, "100-services.png")
	for _, w := range []int64{1366, 1024} {
		do(t, ctx, "resize", chromedp.EmulateViewport(w, 768))
		layout, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`(() => {
			const rows = Array.from(document.querySelectorAll("tr.svc, tr.route"));
			return {
				scrollWidth: document.documentElement.scrollWidth,
				width: window.innerWidth,
				tallestRow: Math.max(...rows.map(r => r.getBoundingClientRect().height)),
				widestCell: Math.max(...Array.from(document.querySelectorAll("td, th")).map(c => c.getBoundingClientRect().right)),
			};
		})()`))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("at %dpx: %v", w, layout)
		if layout["scrollWidth"] > layout["width"] || layout["widestCell"] > layout["width"] {
			t.Errorf("at %dpx the page overflows sideways: %v", w, layout)
		}
		if layout["tallestRow"] > 48 {
			t.Errorf("at %dpx a service row is %.0fpx high: it wraps", w, layout["tallestRow"])
		}
	}
	screenshot(t, ctx, dir, "100-services-1024.png")
}
