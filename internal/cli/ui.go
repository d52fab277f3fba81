package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/daemon"
)

// addUIFlag adds --ui to shoal dev and shoal manager.
func addUIFlag(cmd *cobra.Command, addr *string) {
	cmd.Flags().StringVar(addr, "ui", "", "TCP address serving the web dashboard, e.g. 127.0.0.1:8090 (default: off); browsers log in with the one-time URL printed here or by `shoal ui url`")
}

// printUI prints the dashboard's login URL at a manager's start.
func printUI(a *app, d *daemon.Dev) {
	if u := d.UILoginURL(); u != "" {
		fmt.Fprintf(a.stdout, "  dashboard:   %s\n", u)
		fmt.Fprintf(a.stdout, "               (one-time login link; `shoal ui url` prints a new one)\n")
	}
}

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
