package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
)

func newServiceLogsCmd(a *app) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] SERVICE",
		Short: "Show the output of a service's tasks",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			err = c.ServiceLogs(cmd.Context(), args[0], follow, a.stdout)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return noSuch("service", args[0], err)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output")
	return cmd
}
