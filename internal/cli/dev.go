package cli

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/daemon"
)

func newDevCmd(a *app) *cobra.Command {
	var dataDir, addr, logLevel, ingressAddr string
	var heartbeat, drain time.Duration
	var useDocker, accessLog, requireEnable bool
	var maxBody int64
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a one-node cluster (manager and agent) in this process",
		Long: `Run a one-node cluster: a manager with its Raft state, an agent with the
process runtime, and the API on a unix socket in the data folder.

Tasks keep running when shoal dev stops; the next shoal dev on the same data
folder adopts them.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef(cmd, "invalid --log-level %q: want debug, info, warn or error", logLevel)
			}
			log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if ingressAddr == "off" {
				ingressAddr = ""
			}
			d, err := daemon.StartDev(ctx, daemon.DevConfig{DataDir: dataDir, Addr: addr, Logger: log, HeartbeatPeriod: heartbeat,
				IngressAddr: ingressAddr, Docker: useDocker, DrainDelay: drain,
				IngressAccessLog: accessLog, IngressRequireEnable: requireEnable, IngressMaxBodyBytes: maxBody})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "shoal dev: one-node cluster ready (node %s)\n", d.NodeID())
			fmt.Fprintf(a.stdout, "  data folder: %s\n", d.DataDir())
			fmt.Fprintf(a.stdout, "  API:         %s\n", d.Host())
			if addr := d.IngressAddr(); addr != "" {
				if host, port, err := net.SplitHostPort(addr); err == nil && (host == "::" || host == "0.0.0.0" || host == "") {
					addr = net.JoinHostPort("localhost", port)
				}
				fmt.Fprintf(a.stdout, "  ingress:     http://%s (routes by traefik.* service labels)\n", addr)
			}
			if d.Host() != defaultHost() {
				fmt.Fprintf(a.stdout, "  in another shell: export SHOAL_HOST=%s\n", d.Host())
			}
			fmt.Fprintf(a.stdout, "  try: shoal service create --name web --replicas 3 -- sleep 3600\n")
			<-ctx.Done()
			fmt.Fprintln(a.stdout, "shoal dev: stopping (tasks keep running and are adopted on the next start)")
			return d.Close()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultDataDir(), "folder for the cluster's state, task folders and API socket")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1", "the node's address: task ports are published on it")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().DurationVar(&heartbeat, "heartbeat", 0, "agent heartbeat period (default 2s; a node is down after 3 missed beats)")
	cmd.Flags().StringVar(&ingressAddr, "ingress", ":8080", `address of the HTTP ingress, or "off"`)
	cmd.Flags().BoolVar(&accessLog, "ingress-access-log", false, "log every request the ingress serves")
	cmd.Flags().BoolVar(&requireEnable, "ingress-require-enable", false, "route only services labelled traefik.enable=true (Traefik's exposedByDefault=false)")
	cmd.Flags().Int64Var(&maxBody, "ingress-max-body", 0, "largest request body the ingress accepts, in bytes (0: no limit)")
	cmd.Flags().BoolVar(&useDocker, "docker", true, "offer the docker runtime when a Docker Engine answers")
	cmd.Flags().DurationVar(&drain, "drain-delay", time.Second, "how long a task with ports keeps serving after it leaves the ingress pool, before its stop signal")
	return cmd
}
