package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ca"
)

func newSwarmCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "swarm", Short: "Manage the cluster", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newSwarmJoinTokenCmd(a), newSwarmUpdateCmd(a), newSwarmCACmd(a))
	return cmd
}

func newSwarmCACmd(a *app) *cobra.Command {
	var rotate bool
	cmd := &cobra.Command{
		Use:   "ca [OPTIONS]",
		Short: "Display and rotate the root CA",
		Long: `Print the cluster's root CA certificate (PEM), as ` + "`docker swarm ca`" + ` does:
what every node trusts, and what the join tokens' digest names.

--rotate (a new root, every node moved to it) is not supported yet.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rotate {
				return errors.New("swarm ca --rotate is not supported yet: the cluster keeps its root CA; `shoal node demote` and `shoal node rm` shut a node's certificate out of Raft and the agent port")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			sw, err := c.SwarmInspect(cmd.Context())
			if err != nil {
				return err
			}
			if sw.TLSInfo.TrustRoot == "" {
				return errors.New("this manager did not say its root CA (an older manager): restart it")
			}
			fmt.Fprint(a.stdout, sw.TLSInfo.TrustRoot)
			return nil
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "rotate the swarm CA (not supported yet)")
	return cmd
}

func newSwarmUpdateCmd(a *app) *cobra.Command {
	var certExpiry time.Duration
	cmd := &cobra.Command{
		Use:   "update [OPTIONS]",
		Short: "Update the swarm",
		Long: `Change the cluster's settings, on every manager, as ` + "`docker swarm update`" + `.

--cert-expiry sets the life of the node certificates the managers issue
(at least 1h; Swarm's default 90 days). Nodes get it at their next
renewal, between 1/2 and 2/3 of their current certificate's life; the
managers' own certificates likewise. A manager started with another
--cert-expiry is then refused: start it without the flag.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			var spec api.SwarmSpec
			if cmd.Flags().Changed("cert-expiry") {
				if err := ca.CheckExpiry(certExpiry); err != nil {
					return usagef(cmd, "invalid --cert-expiry: %v", err)
				}
				spec.CAConfig.NodeCertExpiry = certExpiry
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.SwarmUpdate(cmd.Context(), spec); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "Swarm updated.")
			return nil
		},
	}
	cmd.Flags().DurationVar(&certExpiry, "cert-expiry", ca.DefaultCertExpiry, "validity period for node certificates (ns|us|ms|s|m|h)")
	return cmd
}

func newSwarmJoinTokenCmd(a *app) *cobra.Command {
	var quiet, rotate bool
	cmd := &cobra.Command{
		Use:   "join-token [OPTIONS] (worker|manager)",
		Short: "Show the join token and command for a node to join",
		Long: `Show the token a worker node joins with and the command that joins it,
as ` + "`docker swarm join-token worker`" + ` does. The tokens are made at the
cluster's first start; every manager shows the same ones.

--rotate replaces the role's token by a new one, on every manager: the
old one no longer admits anyone. Nodes that joined with it keep working
(they hold certificates). Rotate a token that may have leaked, and after
adding nodes.

A manager token joins managers: ` + "`shoal manager --join ADDR`" + ` with the token
in --token-file or SHOAL_JOIN_TOKEN. It hands the new manager the
cluster's CA key and secrets key: keep it as you would those.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "worker", "manager":
			default:
				return usagef(cmd, "unknown role %q: want worker or manager", args[0])
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if rotate {
				if err := c.RotateJoinToken(cmd.Context(), args[0]); err != nil {
					return err
				}
				if !quiet {
					fmt.Fprintf(a.stdout, "Successfully rotated %s join token.\n\n", args[0])
				}
			}
			sw, err := c.SwarmInspect(cmd.Context())
			if err != nil {
				return err
			}
			tok := sw.JoinTokens.Worker
			if args[0] == "manager" {
				tok = sw.JoinTokens.Manager
				if tok == "" {
					return fmt.Errorf("this manager has no manager token (an older manager): restart it")
				}
			}
			if quiet {
				fmt.Fprintln(a.stdout, tok)
				return nil
			}
			addr := sw.AgentAddr
			if addr == "" {
				addr = "MANAGER:PORT"
			}
			if args[0] == "manager" {
				fmt.Fprintf(a.stdout, "To add a manager to this cluster, run the following command:\n\n    SHOAL_JOIN_TOKEN=%s shoal manager --join %s --addr IP:PORT\n\n", tok, addr)
				if sw.AgentAddr == "" {
					fmt.Fprintln(a.stdout, "This manager has no cluster port: restart it with `shoal dev --listen-agents HOST:PORT` or run `shoal manager`.")
				}
				return nil
			}
			fmt.Fprintf(a.stdout, "To add a worker to this cluster, run the following command:\n\n    %s\n\n", joinCommand(addr, sw.JoinTokens.Worker))
			if sw.AgentAddr == "" {
				fmt.Fprintln(a.stdout, "This manager does not serve agents yet: restart it with `shoal dev --listen-agents HOST:PORT`.")
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display the token")
	cmd.Flags().BoolVar(&rotate, "rotate", false, "rotate the join token")
	return cmd
}

// joinCommand is the command that joins a worker. The token goes in the
// environment, not in --token, where other local users would see it in ps.
func joinCommand(manager, token string) string {
	return fmt.Sprintf("SHOAL_JOIN_TOKEN=%s shoal agent --manager %s", token, manager)
}
