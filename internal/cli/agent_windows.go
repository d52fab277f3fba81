package cli

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/winacl"
)

// promotable is false: a Windows node is a worker only (managers run
// on Linux), so its agent has no --listen-addr.
const promotable = false

var errWorkerOnly = errors.New("a Windows node is a worker only: managers run on Linux")

// checkTokenFileOwner refuses a token file that anyone but SYSTEM,
// Administrators and this user owns or may read or change (its DACL, as
// internal/winacl reads it): the Windows form of Linux's mode 0600 and
// owner checks.
func checkTokenFileOwner(cmd *cobra.Command, file string, _ os.FileInfo) error {
	f, err := os.Open(file)
	if err != nil {
		return usagef(cmd, "--token-file %s: %v", file, err)
	}
	defer f.Close()
	problem, err := winacl.Check(f, winacl.ReadWrite)
	if err != nil {
		return usagef(cmd, "--token-file %s: %v", file, err)
	}
	if problem != "" {
		return usagef(cmd, "--token-file %s %s: other users may have chosen or read the join token; "+
			"write the token to a file in a folder only you can read (your profile's)", file, problem)
	}
	return nil
}

func runPromoted(*app, context.Context, *daemon.Agent, daemon.AgentConfig) error {
	return errWorkerOnly
}

func runPromotedManager(*app, context.Context, daemon.AgentConfig) error { return errWorkerOnly }
