package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
)

// printUnlockCommand tells the operator to keep the unlock key, in
// docker's words.
func printUnlockCommand(out io.Writer, key string) {
	if key == "" {
		return
	}
	fmt.Fprintf(out, "To unlock a swarm manager after it restarts, run the `shoal swarm unlock`\n"+
		"command and provide the following key:\n\n    %s\n\n"+
		"Please remember to store this key in a password manager, since without it you\n"+
		"will not be able to restart the manager.\n", key)
}

func newSwarmUpdateCmd(a *app) *cobra.Command {
	var autolock bool
	var certExpiry time.Duration
	cmd := &cobra.Command{
		Use:   "update [OPTIONS]",
		Short: "Update the cluster",
		Long: `Update the cluster's settings, on every manager, as ` + "`docker swarm update`" + `.

--autolock=true locks every manager's secrets key (which opens the
secrets in Raft and the CA key) with an unlock key that it prints: a
manager that restarts then waits for ` + "`shoal swarm unlock`" + ` with that key
before it starts. --autolock=false stores the key unencrypted in each
manager's data folder again.

--cert-expiry sets the life of the node certificates the managers issue
(at least 1h; Swarm's default 90 days). Nodes get it at their next
renewal, between 1/2 and 2/3 of their current certificate's life; the
managers' own certificates likewise. A manager started with another
--cert-expiry is then refused: start it without the flag.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var u api.SwarmUpdate
			if cmd.Flags().Changed("cert-expiry") {
				if err := ca.CheckExpiry(certExpiry); err != nil {
					return usagef(cmd, "invalid --cert-expiry: %v", err)
				}
				u.CAConfig.NodeCertExpiry = certExpiry
			}
			if cmd.Flags().Changed("autolock") {
				u.Autolock = &autolock
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if u.Autolock == nil && u.CAConfig.NodeCertExpiry == 0 {
				fmt.Fprintln(a.stdout, "Swarm updated.")
				return nil
			}
			before, err := c.SwarmInspect(cmd.Context())
			if err != nil {
				return err
			}
			key, err := c.SwarmUpdate(cmd.Context(), u)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "Swarm updated.")
			if u.Autolock != nil && autolock && !before.Autolock {
				printUnlockCommand(a.stdout, key)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&autolock, "autolock", false, "change manager autolocking setting (true|false)")
	cmd.Flags().DurationVar(&certExpiry, "cert-expiry", ca.DefaultCertExpiry, "validity period for node certificates (ns|us|ms|s|m|h)")
	return cmd
}

func newSwarmUnlockKeyCmd(a *app) *cobra.Command {
	var quiet, rotate bool
	cmd := &cobra.Command{
		Use:   "unlock-key [OPTIONS]",
		Short: "Manage the unlock key",
		Long: `Show the key that unlocks a restarted manager of an autolocked cluster,
as ` + "`docker swarm unlock-key`" + ` does.

--rotate replaces it by a new one: each manager locks its secrets key
with the new key as soon as it hears of the change. A manager that was
down or locked meanwhile still needs the old key to unlock (as in
Swarm), then locks itself with the new one: keep the old key until
every manager has been up since the rotation.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var key string
			if rotate {
				if key, err = c.RotateUnlockKey(cmd.Context()); err != nil {
					return err
				}
				if !quiet {
					fmt.Fprint(a.stdout, "Successfully rotated manager unlock key.\n\n")
				}
			} else if key, err = c.UnlockKey(cmd.Context()); err != nil {
				return err
			}
			if key == "" {
				return errors.New("no unlock key is set")
			}
			if quiet {
				fmt.Fprintln(a.stdout, key)
				return nil
			}
			printUnlockCommand(a.stdout, key)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display the unlock key")
	cmd.Flags().BoolVar(&rotate, "rotate", false, "rotate the unlock key")
	return cmd
}

func newSwarmUnlockCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unlock",
		Short: "Unlock a locked manager",
		Long: `Give a locked manager (an autolocked cluster's manager that restarted)
its unlock key, as ` + "`docker swarm unlock`" + `: it reads the key from the terminal
without echoing it, or from standard input.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			// Ask for the key only of a manager that is locked.
			_, err = c.Info(cmd.Context())
			var ce *client.Error
			switch {
			case err == nil:
				return errors.New("swarm is not locked")
			case !errors.As(err, &ce) || !strings.Contains(ce.Message, api.LockedMessage):
				return err
			}
			key, err := readUnlockKey(a)
			if err != nil {
				return err
			}
			return c.SwarmUnlock(cmd.Context(), key)
		},
	}
}

// maxKeyLine bounds what is read of a key from standard input.
const maxKeyLine = 4096

// readUnlockKey reads the key: from a terminal, prompted and not
// echoed; else the first line of standard input.
func readUnlockKey(a *app) (string, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stdout, "Enter unlock key: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stdout)
		if err != nil {
			return "", fmt.Errorf("read the unlock key: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(a.stdin, maxKeyLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the unlock key: %w", err)
	}
	return strings.TrimSpace(line), nil
}
