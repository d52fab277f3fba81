//go:build !linux && !windows

package cli

import "github.com/spf13/cobra"

func newAgentCmd(*app) *cobra.Command {
	return linuxOnly("agent", "Run a worker node that joins a cluster")
}
