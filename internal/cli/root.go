// Package cli is shoal's command line: the cobra command tree, tables,
// --format and -q, following the docker CLI's verbs, columns and exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/client"
)

// Exit codes, as the docker CLI uses them.
const (
	ExitOK      = 0
	ExitFailure = 1
	// ExitUsage is returned for wrong flags and arguments.
	ExitUsage = 125
)

// usageError marks a mistake in how a command was called.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error for cmd.
func usagef(cmd *cobra.Command, format string, a ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, a...)}
}

// app holds what every command shares.
type app struct {
	// host is -H (or set by a command, as demo does); empty when not
	// given. endpoint (endpoint.go) picks where the CLI talks.
	host string
	// conn are the TLS and context flags (endpoint.go).
	conn   connFlags
	root   *cobra.Command
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
	// isTTY reports whether stdout is a terminal (progress drawing).
	isTTY bool
}

func (a *app) client() (*client.Client, error) {
	ep, err := a.endpoint()
	if err != nil {
		return nil, err
	}
	return client.NewTLS(ep.Host, ep.TLS)
}

// Execute runs the shoal command line with args and returns the exit code.
func Execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, stdin: stdin, isTTY: isTerminal(stdout)}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, ue.err)
		fmt.Fprintf(stderr, "See '%s --help'.\n", ue.cmd.CommandPath())
		return ExitUsage
	}
	var se *statusError
	if errors.As(err, &se) {
		if se.msg != "" {
			fmt.Fprintln(stderr, se.msg)
		}
		return se.code
	}
	if cmd != nil && isFlagError(err) {
		fmt.Fprintln(stderr, err)
		fmt.Fprintf(stderr, "See '%s --help'.\n", cmd.CommandPath())
		return ExitUsage
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	return ExitFailure
}

// statusError ends a command with a chosen exit code.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// flagErr wraps cobra's flag parsing errors so Execute can tell them apart.
type flagErr struct{ error }

func isFlagError(err error) bool {
	var fe flagErr
	return errors.As(err, &fe)
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "shoal",
		Short:         "A container orchestrator that runs Docker Swarm stacks",
		Long:          "shoal keeps services at their scale, replaces what dies, balances traffic over healthy replicas and rolls updates out and back. Start a one-node cluster with `shoal dev`.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
		Args:          unknownSubcommand,
		RunE:          helpOnly,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return flagErr{err} })
	a.root = root
	root.PersistentFlags().StringVarP(&a.host, "host", "H", "", "API address: unix:///path/to/shoal.sock or tcp://HOST:PORT (env SHOAL_HOST; default: the context's, else "+localHost()+")")
	a.conn.add(root)
	root.AddCommand(
		newDevCmd(a),
		newDemoCmd(a),
		newManagerNodeCmd(a, true),
		newAgentCmd(a),
		newSwarmCmd(a),
		newServiceCmd(a),
		newStackCmd(a),
		newNodeCmd(a),
		newPsCmd(a),
		newConfigCmd(a),
		newSecretCmd(a),
		newNetworkCmd(a),
		newIngressCmd(a),
		newEventsCmd(a),
		newUICmd(a),
		newVersionCmd(a),
		newInfoCmd(a),
		newSystemCmd(a),
		newContextCmd(a),
	)
	disableFlagsInUseLine(root)
	addCompletions(a, root)
	return root
}

// disableFlagsInUseLine stops cobra adding "[flags]" to usage lines that
// say [OPTIONS] already, as docker's do.
func disableFlagsInUseLine(cmd *cobra.Command) {
	cmd.DisableFlagsInUseLine = true
	for _, c := range cmd.Commands() {
		disableFlagsInUseLine(c)
	}
}

var version = "0.1.0-dev"

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return argsError(cmd, "accepts no arguments", "Run")
	}
	return nil
}

// exactArgs requires n positional arguments.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return argsError(cmd, fmt.Sprintf("requires %d %s", n, plural(n, "argument", "arguments")), "Run")
		}
		return nil
	}
}

// minArgs requires at least n positional arguments.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return argsError(cmd, fmt.Sprintf("requires at least %d %s", n, plural(n, "argument", "arguments")), "See")
		}
		return nil
	}
}

// argsError is a wrong number of arguments, in docker's words and with
// its exit code (1, where a wrong flag exits 125):
//
//	shoal: 'shoal service inspect' requires at least 1 argument
//
//	Usage:  shoal service inspect [OPTIONS] SERVICE [SERVICE...]
//
//	See 'shoal service inspect --help' for more information
//
// docker's last line starts "Run" for exact counts and none, "See" for a
// minimum (see is "Run" or "See").
func argsError(cmd *cobra.Command, what, see string) error {
	return &statusError{code: ExitFailure, msg: fmt.Sprintf("%s: '%s' %s\n\nUsage:  %s\n\n%s '%s --help' for more information",
		cmd.Root().Name(), cmd.CommandPath(), what, cmd.UseLine(), see, cmd.CommandPath())}
}

// DefaultDataDir is where `shoal dev` keeps its state unless told
// otherwise: $XDG_STATE_HOME/shoal, or ~/.local/state/shoal.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "shoal")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "shoal")
	}
	return filepath.Join(os.TempDir(), "shoal")
}

// defaultHost is SHOAL_HOST, or the default data folder's socket.
func defaultHost() string {
	if h := os.Getenv("SHOAL_HOST"); h != "" {
		return h
	}
	return localHost()
}

// localHost is the default data folder's socket.
func localHost() string { return "unix://" + filepath.Join(DefaultDataDir(), "shoal.sock") }

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
