package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/ca"
)

func newSwarmCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "swarm", Short: "Manage the cluster", Args: unknownSubcommand, RunE: helpOnly}
	cmd.AddCommand(newSwarmJoinTokenCmd(a), newSwarmLeaveCmd(a), newSwarmCACmd(a))
	cmd.AddCommand(newSwarmUpdateCmd(a), newSwarmUnlockKeyCmd(a), newSwarmUnlockCmd(a))
	return cmd
}

func newSwarmLeaveCmd(a *app) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "leave [OPTIONS]",
		Short: "Leave the swarm",
		Long: `Make the node whose API socket the CLI talks to leave the cluster, as
` + "`docker swarm leave`" + `. A worker's agent serves that socket in its data folder
(--host unix://DATA/shoal.sock): it stops its tasks, its node shows Down
(remove it with ` + "`shoal node rm`" + `), and the process exits, its certificate
removed (joining again takes a token). A manager refuses without --force;
with it, it takes itself out of Raft when that keeps the quorum (demote
it first to be sure), stops its tasks and exits, its cluster state
removed from its data folder.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.SwarmLeave(cmd.Context(), force); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "Node left the swarm.")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force this node to leave the swarm, ignoring warnings")
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

func newSwarmCACmd(a *app) *cobra.Command {
	var rotate, detach, quiet bool
	var issue issueFlags
	cmd := &cobra.Command{
		Use:   "ca [OPTIONS]",
		Short: "Display and rotate the root CA",
		Long: `Print the cluster's root CA certificate (PEM), as ` + "`docker swarm ca`" + ` does:
what every node trusts, and what the join tokens' digest names.

--rotate makes a new root and moves every node to it without stopping
anything: nodes trust both roots meanwhile and get certificates of the
new one (workers first, the managers last). Once every node has one,
the old root is trusted no more, and the join tokens change (the old
ones admit nobody). A node that is down holds the rotation back: bring
it back or remove it (` + "`shoal node rm`" + `). The progress is shown until the end
(-d: return at once; -q: no progress).

--issue-client NAME --out DIR writes an operator certificate of the
cluster CA into DIR, in docker's layout (ca.pem, cert.pem, key.pem; the
key made here, never sent, mode 0600): what --tlsverify, SHOAL_CERT_PATH,
` + "`shoal context create --cert-path`" + ` and the docker CLI's DOCKER_CERT_PATH
use to reach a manager's --api and --docker-api tcp:// listeners. Only a
caller the API trusts already (the socket's owner, or an operator) may
issue one. It stays valid until it expires (--expiry, default the node
certificate life) or until a CA rotation ends: issue new ones then.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if issue.name != "" || issue.out != "" {
				if rotate || detach || quiet {
					return usagef(cmd, "--issue-client does not go with --rotate")
				}
				return issue.run(cmd, a)
			}
			if (detach || quiet) && !rotate {
				return usagef(cmd, "--detach and --quiet go with --rotate")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if rotate {
				if err := c.RotateCA(ctx); err != nil {
					return err
				}
				if detach {
					return nil
				}
			}
			sw, err := c.SwarmInspect(ctx)
			if err != nil {
				return err
			}
			if sw.TLSInfo.TrustRoot == "" {
				return errors.New("this manager did not say its root CA (an older manager): restart it")
			}
			if rotate {
				if sw, err = waitRotation(ctx, a, c, sw, quiet); err != nil {
					return err
				}
			}
			fmt.Fprint(a.stdout, sw.TLSInfo.TrustRoot)
			return nil
		},
	}
	cmd.Flags().BoolVar(&rotate, "rotate", false, "rotate the swarm CA: every node moves to a new root")
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "exit immediately instead of waiting for the root rotation to converge")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress progress output")
	issue.add(cmd)
	return cmd
}

// waitRotation shows a CA rotation's progress until it ends, as docker
// swarm ca --rotate does.
func waitRotation(ctx context.Context, a *app, c *client.Client, sw *api.Swarm, quiet bool) (*api.Swarm, error) {
	if root, err := ca.ParseRootCert([]byte(sw.TLSInfo.TrustRoot)); err == nil && !quiet {
		fmt.Fprintf(a.stdout, "desired root digest: %s\n", root.Digest())
	}
	last := ""
	for {
		if !sw.RootRotationInProgress {
			// The managers move last, with the end.
			if !quiet {
				fmt.Fprintln(a.stdout, "  rotated TLS certificates: all nodes")
				fmt.Fprintln(a.stdout, "  rotated CA certificates: 1/1")
			}
			return sw, nil
		}
		if p := sw.CARotation; p != nil && !quiet {
			if line := fmt.Sprintf("  rotated TLS certificates: %d/%d nodes", p.Rotated, p.Total); line != last {
				fmt.Fprintln(a.stdout, line)
				last = line
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		var err error
		if sw, err = c.SwarmInspect(ctx); err != nil {
			return nil, err
		}
	}
}
