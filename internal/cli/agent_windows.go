package cli

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/daemon"
)

// promotable is false: a Windows node is a worker only (managers run
// on Linux), so its agent has no --listen-addr.
const promotable = false

var errWorkerOnly = errors.New("a Windows node is a worker only: managers run on Linux")

// checkTokenFileOwner checks nothing more on Windows: its files have
// ACLs, not modes or owner IDs, and this agent reads neither (README,
// "Windows nodes"): keep the token file in a folder only you can read.
func checkTokenFileOwner(*cobra.Command, string, os.FileInfo) error { return nil }

func runPromoted(*app, context.Context, *daemon.Agent, daemon.AgentConfig) error {
	return errWorkerOnly
}

func runPromotedManager(*app, context.Context, daemon.AgentConfig) error { return errWorkerOnly }
