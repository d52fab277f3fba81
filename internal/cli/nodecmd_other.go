//go:build !linux

package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// errLinuxOnly is what the node commands say on other platforms, where
// this CLI manages a remote cluster.
var errLinuxOnly = errors.New("shoal nodes run on Linux only: on this machine, use the CLI against a cluster with -H/SHOAL_HOST")

func linuxOnly(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short + " (Linux only)", DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error { return errLinuxOnly }}
}

func newDevCmd(*app) *cobra.Command {
	return linuxOnly("dev", "Run a one-node cluster (manager and agent) in this process")
}

func newManagerNodeCmd(*app, bool) *cobra.Command {
	return linuxOnly("manager", "Run a manager node of a cluster of several managers")
}

func newDemoCmd(*app) *cobra.Command {
	return linuxOnly("demo", "Run the signup example app and its high-availability story")
}
