//go:build linux

package cli

import (
	"context"
	"fmt"

	"github.com/shoalproject/shoal/internal/daemon"
)

// runPromoted turns the agent of a promoted node into the node's manager
// (daemon.StartPromoted) and runs it until ctx ends.
func runPromoted(a *app, ctx context.Context, ag *daemon.Agent, cfg daemon.AgentConfig) error {
	fmt.Fprintf(a.stdout, "shoal agent: node %s was promoted to manager: starting its manager\n", ag.NodeID())
	d, err := daemon.StartPromoted(ctx, ag, cfg)
	if err != nil {
		return fmt.Errorf("start the manager of promoted node %s: %w", ag.NodeID(), err)
	}
	return serveManager(a, ctx, d)
}

// runPromotedManager runs the manager of a node promoted before, from
// its data folder.
func runPromotedManager(a *app, ctx context.Context, cfg daemon.AgentConfig) error {
	dcfg, err := daemon.ManagerConfig(cfg, cfg.Addr, "", nil)
	if err != nil {
		return err
	}
	d, err := daemon.StartDev(ctx, dcfg)
	if err != nil {
		return err
	}
	return serveManager(a, ctx, d)
}

func serveManager(a *app, ctx context.Context, d *daemon.Dev) error {
	fmt.Fprintf(a.stdout, "shoal agent: node %s is a manager (cluster port %s)\n", d.NodeID(), d.AgentAddr())
	fmt.Fprintf(a.stdout, "  data folder: %s\n", d.DataDir())
	fmt.Fprintf(a.stdout, "  API:         %s\n", d.Host())
	select {
	case <-ctx.Done():
	case <-d.Left():
		fmt.Fprintf(a.stdout, "shoal agent: node %s left the swarm\n", d.NodeID())
		return d.Close()
	}
	fmt.Fprintln(a.stdout, "shoal agent: stopping (tasks keep running and are adopted on the next start)")
	return d.Close()
}
