// Command shoal is the shoal CLI and daemon.
package main

import (
	"context"
	"os"

	"github.com/shoalproject/shoal/internal/cli"
)

func main() {
	os.Exit(cli.Execute(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
