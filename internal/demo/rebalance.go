package demo

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// API is the service the rebalance step forces, as the seed does.
const API = Stack + "_reference-data-api"

// Placement counts the healthy tasks of service on each node (by ID).
func Placement(ctx context.Context, c *client.Client, service string) (map[string]int, error) {
	ts, err := c.TaskList(ctx, client.TaskFilter{Service: service})
	if err != nil {
		return nil, err
	}
	on := map[string]int{}
	for _, t := range HealthyTasks(ts) {
		on[t.NodeID]++
	}
	return on, nil
}

// ForceUpdate is `shoal service update --force service`: every task is
// replaced though the spec is the same, and the scheduler places the new
// ones where the service runs least, which spreads it over nodes that
// joined since. It waits until the update ended and the demo is healthy.
func ForceUpdate(ctx context.Context, c *client.Client, service string) error {
	var force uint64
	if err := updateSpec(ctx, c, service, func(s *api.ServiceSpec) {
		s.TaskTemplate.ForceUpdate++
		force = s.TaskTemplate.ForceUpdate
	}); err != nil {
		return err
	}
	for {
		ts, err := c.TaskList(ctx, client.TaskFilter{Service: service})
		if err != nil {
			return err
		}
		old, fresh := 0, 0
		for _, t := range liveTasks(ts) {
			if t.Spec.ForceUpdate != force {
				old++
			}
		}
		for _, t := range HealthyTasks(ts) {
			if t.Spec.ForceUpdate == force {
				fresh++
			}
		}
		if old == 0 && fresh > 0 {
			return WaitHealthy(ctx, c)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the forced update of %s: %w", service, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Extra are the nodes the tour's last step adds. With Join nil the step
// is told, not played, and Why says why.
type Extra struct {
	// Join starts the nodes, waits until they are ready, and returns
	// their IDs; Names are their host names, for the narration.
	Join  func(context.Context) ([]string, error)
	Names []string
	// How tells how the nodes are made, for the narration.
	How string
	Why string
}

// OnNodes counts the healthy tasks of service on the nodes ids, and all
// of them.
func OnNodes(on map[string]int, ids []string) (in, all int) {
	for id, n := range on {
		all += n
		if slices.Contains(ids, id) {
			in += n
		}
	}
	return in, all
}

// PrintTasks prints the running tasks of service as `shoal service ps
// -f desired-state=running SERVICE` does, with the nodes' host names.
func PrintTasks(ctx context.Context, c *client.Client, out io.Writer, service string) error {
	ts, err := c.TaskList(ctx, client.TaskFilter{Service: service})
	if err != nil {
		return err
	}
	nodes, err := c.NodeList(ctx)
	if err != nil {
		return err
	}
	host := map[string]string{}
	for _, n := range nodes {
		host[n.ID] = n.Description.Hostname
	}
	ts = slices.DeleteFunc(ts, func(t *api.Task) bool { return t.DesiredState != api.TaskStateRunning })
	slices.SortFunc(ts, func(a, b *api.Task) int { return cmp.Compare(a.Slot, b.Slot) })
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "   ID\tNAME\tNODE\tDESIRED STATE\tCURRENT STATE")
	for _, t := range ts {
		state := t.Status.State.String()
		if t.Status.Health != "" {
			state += " (" + t.Status.Health + ")"
		}
		fmt.Fprintf(w, "   %s\t%s\t%s\t%s\t%s\n", t.ID, t.Name(), host[t.NodeID], t.DesiredState, state)
	}
	return w.Flush()
}

// rebalanceStep is the tour's last: nodes join and nothing moves, then
// `service update --force` spreads the service over them. Without extra
// nodes it is told, and says so.
func rebalanceStep(ctx context.Context, c *client.Client, base string, extra Extra, say func(title, body string) error,
	result func(string, ...any), out io.Writer) error {
	if extra.Join == nil {
		return say("7. Rebalancing after nodes join (told, not played)", `
Swarm (and shoal) does not move healthy tasks when a node joins. On a cluster
with more nodes (shoal agent --manager ..., see the README), force the service
to be rescheduled, which spreads it over the nodes:
   shoal service update --force signup_reference-data-api
   shoal node ps NODE
The tour does not play this step: `+extra.Why+`.`)
	}
	if err := say("7. Two nodes join; nothing moves", `
Two more nodes join the cluster: `+strings.Join(extra.Names, " and ")+`, `+extra.How+`
(on real machines: shoal agent --manager ADDR --token-file FILE, the command
shoal swarm join-token worker prints). Swarm (and shoal) does not move healthy tasks to
a node that joins: that would stop tasks that work. By hand:
   shoal node ls
   shoal service ps -f desired-state=running `+API); err != nil {
		return err
	}
	ids, err := extra.Join(ctx)
	if err != nil {
		return fmt.Errorf("join the extra nodes: %w", err)
	}
	result("nodes %s joined and are ready", strings.Join(extra.Names, " and "))
	if err := PrintTasks(ctx, c, out, API); err != nil {
		return err
	}
	on, err := Placement(ctx, c, API)
	if err != nil {
		return err
	}
	in, all := OnNodes(on, ids)
	result("nothing moved: %s has %d of its %d tasks on the new nodes", API, in, all)
	if in != 0 {
		return fmt.Errorf("tasks of %s moved to the nodes that joined: %v", API, on)
	}

	if err := say("8. service update --force spreads the work", `
   shoal service update --force `+API+`
   shoal service ps -f desired-state=running `+API+`
--force replaces every task though the spec did not change; the scheduler
places the new ones on the nodes that run the fewest of the service's tasks:
the new nodes. They reach the stack's overlay networks, and signup-web keeps
reaching reference-data-api by name.`); err != nil {
		return err
	}
	load := StartLoad(base+"/app/", 2) // its form's lists come from reference-data-api
	err = ForceUpdate(ctx, c, API)
	ok, failed, errs := load.Stop()
	if err != nil {
		return err
	}
	result("during the update: %d requests to /app/ answered, %d failed %s", ok, failed, strings.Join(errs, "; "))
	if err := PrintTasks(ctx, c, out, API); err != nil {
		return err
	}
	if on, err = Placement(ctx, c, API); err != nil {
		return err
	}
	in, all = OnNodes(on, ids)
	result("spread: %s has %d of its %d tasks on the new nodes", API, in, all)
	if in == 0 {
		return fmt.Errorf("after --force, no task of %s runs on the nodes that joined: %v", API, on)
	}
	if err := Answers(ctx, base, "/app/", "/api/countries"); err != nil {
		return err
	}
	result("the app still answers: %s/app/ and %s/api/countries, served by the tasks on the new nodes", base, base)
	return nil
}

// Answers checks that each path answers 200 through the ingress at base,
// several times in a row (so that every replica behind it gets a turn),
// retrying each for a few seconds: the ingress may not yet route to
// tasks that just turned healthy.
func Answers(ctx context.Context, base string, paths ...string) error {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(url string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
	for _, p := range paths {
		deadline := time.Now().Add(10 * time.Second)
		for i := 0; i < 6; {
			err := get(base + p)
			if err == nil {
				i++
				continue
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("the app does not answer after the rebalance: %w", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}
