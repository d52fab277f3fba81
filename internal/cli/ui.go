package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUICmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Manage the web dashboard",
		Args:  noArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "url",
		Short: "Print a one-time login URL of the manager's web dashboard",
		Long: `Print a one-time login URL of the web dashboard of the manager the API
socket belongs to (started with --ui ADDR). Opening it logs the browser in
with a session cookie; the link works once, within 15 minutes.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			u, err := c.UILoginURL(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, u)
			return nil
		},
	})
	return cmd
}
