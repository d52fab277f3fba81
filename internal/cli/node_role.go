package cli

import (
	"errors"
	"fmt"

	"github.com/shoalproject/shoal/api"

	"github.com/spf13/cobra"
)

func newNodeDemoteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "demote NODE [NODE...]",
		Short: "Demote one or more managers to workers",
		Long: `Demote managers to workers, one Raft change at a time, as
` + "`docker node demote`" + ` does. A change that would leave the managers that
are up short of a majority of those left is refused, and so is demoting
the last manager. A leader demoting itself hands the leadership over
first. Use it for a manager that is gone for good; a manager process
that still runs once demoted takes no part in Raft any more: stop it,
and join the machine again as a worker (` + "`shoal agent`" + `, new data folder).`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				if err := c.NodeDemote(cmd.Context(), ref); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stdout, "Manager %s demoted in the swarm.\n", ref)
			}
			return errors.Join(errs...)
		},
	}
}

func newNodePromoteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "promote NODE [NODE...]",
		Short: "Promote one or more nodes to manager in the swarm",
		Long: `Promote workers to managers, as ` + "`docker node promote`" + `. The cluster records the
node as a manager; its agent learns it, renews its certificate as a
manager and starts a manager in its process, which joins the Raft group
(a non-voter until it has caught up, then a voter, one change at a time)
and serves the API on the socket in its data folder and the cluster port
at its --listen-addr. Its tasks keep running. A node that is down, or
whose agent was started without --listen-addr, is refused.`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				// As docker: a manager already is not an error.
				n, err := c.NodeInspect(cmd.Context(), ref)
				if err == nil && n.Spec.Role == api.RoleManager {
					fmt.Fprintf(a.stdout, "Node %s is already a manager.\n", ref)
					continue
				}
				if err == nil {
					err = c.NodePromote(cmd.Context(), ref)
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stdout, "Node %s promoted to a manager in the swarm.\n", ref)
			}
			return errors.Join(errs...)
		},
	}
}
