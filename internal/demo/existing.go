package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// Nodes of a cluster the demo did not start (-H).
//
// The demo adds no node to such a cluster. When it has enough nodes, the
// tour's last step is played on them instead: before the deploy the
// demo pauses every ready node but one (availability pause: their tasks
// keep running, new ones go elsewhere), so that the stacks run on that
// one; at the last step it makes them active again, which to the
// scheduler is what a node joining is, and nothing moves until
// `service update --force`. The cleanup makes them active again in any
// case (but a demo killed with SIGKILL leaves them paused: `shoal node
// update --availability active NODE`).

// Paused are the nodes HoldExisting paused.
type Paused struct {
	c     *client.Client
	ids   []string
	names []string
}

// HoldExisting pauses the ready, active nodes of the cluster that can
// run the demo's services with runtime (process or docker) and have
// spare capacity, but one (a manager's, if it can, where the stacks
// then run). With fewer than two such nodes it pauses nothing and
// returns why the step is told instead.
func HoldExisting(ctx context.Context, c *client.Client, runtime string) (*Paused, string, error) {
	nodes, err := c.NodeList(ctx)
	if err != nil {
		return nil, "", err
	}
	ts, err := c.TaskList(ctx, client.TaskFilter{})
	if err != nil {
		return nil, "", err
	}
	var fit []*api.Node
	for _, n := range nodes {
		if n.Status.State == api.NodeStateReady && n.Spec.Availability == api.AvailabilityActive &&
			n.HasRuntime(runtime) && n.Description.Supports(api.FeatureNetworks) && spare(n, ts) {
			fit = append(fit, n)
		}
	}
	if len(fit) < 2 {
		return nil, fmt.Sprintf("the cluster -H names has %d ready, active node(s) with spare capacity that run %s tasks "+
			"and networks, and the step needs one for the stacks and at least one more to spread to (the demo adds no node to a cluster it did not start)",
			len(fit), runtime), nil
	}
	// The stacks stay on a manager when one fits: the node -H reaches.
	slices.SortStableFunc(fit, func(a, b *api.Node) int {
		return boolRank(b.Spec.Role == api.RoleManager) - boolRank(a.Spec.Role == api.RoleManager)
	})
	p := &Paused{c: c}
	for _, n := range fit[1:] {
		if err := setAvailability(ctx, c, n.ID, api.AvailabilityPause); err != nil {
			return nil, "", errors.Join(err, p.Restore(ctx))
		}
		p.ids = append(p.ids, n.ID)
		p.names = append(p.names, n.Description.Hostname)
	}
	return p, "", nil
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// spare reports whether the node has CPU and memory left beyond what its
// live tasks reserve (a node that reports no resources is taken at its
// word).
func spare(n *api.Node, ts []*api.Task) bool {
	have := n.Description.Resources
	var cpu, mem int64
	for _, t := range ts {
		if t.NodeID == n.ID && t.Live() && t.Spec.Resources != nil && t.Spec.Resources.Reservations != nil {
			cpu += t.Spec.Resources.Reservations.NanoCPUs
			mem += t.Spec.Resources.Reservations.MemoryBytes
		}
	}
	return (have.NanoCPUs == 0 || cpu < have.NanoCPUs) && (have.MemoryBytes == 0 || mem < have.MemoryBytes)
}

// Extra is the tour's last step on the paused nodes: Join makes them
// active again.
func (p *Paused) Extra() Extra {
	return Extra{Names: p.names,
		How: "nodes of the cluster -H names, which the demo paused\n(shoal node update --availability pause) before it deployed and now makes active\nagain: to the scheduler, that is a node joining",
		Join: func(ctx context.Context) ([]string, error) {
			for _, id := range p.ids {
				if err := setAvailability(ctx, p.c, id, api.AvailabilityActive); err != nil {
					return nil, err
				}
			}
			return slices.Clone(p.ids), nil
		}}
}

// String names the paused nodes for the demo's output.
func (p *Paused) String() string { return strings.Join(p.names, " and ") }

// Restore makes the paused nodes active again (those still paused: an
// operator may have changed them since).
func (p *Paused) Restore(ctx context.Context) error {
	var errs []error
	for _, id := range p.ids {
		n, err := p.c.NodeInspect(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n.Spec.Availability == api.AvailabilityPause {
			errs = append(errs, setAvailability(ctx, p.c, id, api.AvailabilityActive))
		}
	}
	return errors.Join(errs...)
}

func setAvailability(ctx context.Context, c *client.Client, id, availability string) error {
	nd, err := c.NodeInspect(ctx, id)
	if err != nil {
		return err
	}
	spec := nd.Spec
	spec.Availability = availability
	if _, err := c.NodeUpdate(ctx, id, nd.Version, spec); err != nil {
		return fmt.Errorf("node %s: availability %s: %w", id, availability, err)
	}
	return nil
}
