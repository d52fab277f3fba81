//go:build linux

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
