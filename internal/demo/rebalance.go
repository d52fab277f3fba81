package demo

import (
	"context"
	"fmt"
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
