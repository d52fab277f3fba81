package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// nodeUpdateFlags are `node update`'s flags.
type nodeUpdateFlags struct {
	availability string
	labelAdd     []string
	labelRm      []string
}

func newNodeUpdateCmd(a *app) *cobra.Command {
	var f nodeUpdateFlags
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] NODE",
		Short: "Update a node's availability and labels",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch f.availability {
			case "", api.AvailabilityActive, api.AvailabilityPause, api.AvailabilityDrain:
			default:
				return usagef(cmd, "invalid availability %q: want active, pause or drain", f.availability)
			}
			adds, err := parseLabels("label-add", f.labelAdd)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := updateNode(cmd.Context(), c, args[0], f.availability, adds, f.labelRm); err != nil {
				return noSuch("node", args[0], err)
			}
			fmt.Fprintln(a.stdout, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&f.availability, "availability", "", "availability of the node (active, pause, drain)")
	cmd.Flags().StringArrayVar(&f.labelAdd, "label-add", nil, "add or update a node label (KEY=VALUE)")
	cmd.Flags().StringArrayVar(&f.labelRm, "label-rm", nil, "remove a node label if it exists")
	return cmd
}

// updateNode reads the node, changes its spec and writes it back on the
// version it read; a write that raced another is tried again on a fresh
// read.
func updateNode(ctx context.Context, c *client.Client, ref, availability string, adds map[string]string, rms []string) error {
	for attempt := 0; ; attempt++ {
		n, err := c.NodeInspect(ctx, ref)
		if err != nil {
			return err
		}
		spec := n.Spec
		if availability != "" {
			spec.Availability = availability
		}
		labels := map[string]string{}
		for k, v := range spec.Labels {
			labels[k] = v
		}
		for k, v := range adds {
			labels[k] = v
		}
		for _, k := range rms {
			if _, ok := labels[k]; !ok {
				return fmt.Errorf("key %s doesn't exist in node's labels", k)
			}
			delete(labels, k)
		}
		spec.Labels = labels
		if len(labels) == 0 {
			spec.Labels = nil
		}
		_, err = c.NodeUpdate(ctx, n.ID, n.Version, spec)
		if client.IsConflict(err) && attempt < 3 {
			continue
		}
		return err
	}
}

func newNodeRmCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NODE [NODE...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more nodes from the cluster",
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			return a.removeEach("node", args, func(ref string) error { return c.NodeRemove(cmd.Context(), ref, force) })
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force remove a node from the cluster (its agent stops its tasks)")
	return cmd
}
