package cli

import (
	"errors"
	"fmt"

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
		Short: "Promote one or more workers to managers (not supported yet)",
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("node promote is not supported yet: a worker runs no manager; start a manager on that machine instead (`shoal manager --join MANAGER --addr IP:PORT` with `shoal swarm join-token manager`, on a new data folder)")
		},
	}
}
