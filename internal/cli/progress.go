package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// errConverged stops the event stream once the service converged.
var errConverged = errors.New("converged")

// waitConverged follows the service's events until every desired task is
// running, printing progress lines and the errors of tasks that fail.
func (a *app) waitConverged(ctx context.Context, c *client.Client, svc *api.Service, quiet bool) error {
	last := -1
	reported := map[string]bool{}
	check := func() error {
		cur, err := c.ServiceInspect(ctx, svc.ID)
		if err != nil {
			return err
		}
		tasks, err := c.TaskList(ctx, client.TaskFilter{Service: svc.ID})
		if err != nil {
			return err
		}
		running, desired := countReplicas(cur, tasks)
		if !quiet {
			if running != last {
				fmt.Fprintf(a.stdout, "overall progress: %d out of %d tasks\n", running, desired)
				last = running
			}
			for _, t := range tasks {
				if t.Status.Err != "" && !reported[t.ID] && (t.Status.State.Terminal() || t.Status.State == api.TaskStatePending) {
					reported[t.ID] = true
					fmt.Fprintf(a.stdout, "%s: %s %s\n", t.Name(), t.Status.State, t.Status.Err)
				}
			}
		}
		if running == desired {
			return errConverged
		}
		return nil
	}
	err := c.Events(ctx, client.EventFilter{Service: svc.ID}, func(ev api.Event) error {
		if ev.Type == api.EventService && ev.Action == api.ActionRemove {
			return fmt.Errorf("service %s was removed", svc.Spec.Name)
		}
		return check()
	})
	if errors.Is(err, errConverged) {
		if !quiet {
			fmt.Fprintln(a.stdout, "verify: Service converged")
		}
		return nil
	}
	return err
}

// countReplicas returns how many of the service's tasks run and how many
// should. A replicated service counts one running task per slot in range.
func countReplicas(svc *api.Service, tasks []*api.Task) (running, desired int) {
	if svc.Spec.Mode.IsGlobal() {
		for _, t := range tasks {
			if t.DesiredState != api.TaskStateRunning || !t.Live() {
				continue
			}
			desired++
			if t.Status.State == api.TaskStateRunning {
				running++
			}
		}
		return running, desired
	}
	want := svc.Spec.Mode.Replicas()
	slots := map[uint64]bool{}
	for _, t := range tasks {
		if t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning && t.Slot >= 1 && t.Slot <= want {
			slots[t.Slot] = true
		}
	}
	return len(slots), int(want)
}
