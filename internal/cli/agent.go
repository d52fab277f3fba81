package cli

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/daemon"
)

// ingressFlags are the --ingress* flags of a node process.
type ingressFlags struct {
	addr          string
	accessLog     bool
	requireEnable bool
	maxBody       int64
}

func (f *ingressFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "ingress", ":8080", `address of the HTTP ingress, or "off"`)
	cmd.Flags().BoolVar(&f.accessLog, "ingress-access-log", false, "log every request the ingress serves")
	cmd.Flags().BoolVar(&f.requireEnable, "ingress-require-enable", false, "route only services labelled traefik.enable=true (Traefik's exposedByDefault=false)")
	cmd.Flags().Int64Var(&f.maxBody, "ingress-max-body", 0, "largest request body the ingress accepts, in bytes (0: no limit)")
}

func (f *ingressFlags) config() daemon.IngressConfig {
	addr := f.addr
	if addr == "off" {
		addr = ""
	}
	return daemon.IngressConfig{Addr: addr, AccessLog: f.accessLog, RequireEnable: f.requireEnable, MaxBodyBytes: f.maxBody}
}

// publishFlags are the routing mesh's flags of a node process.
type publishFlags struct {
	addr     string
	maxConns int
}

func (f *publishFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "publish-addr", "0.0.0.0", `IP address the ports services publish in ingress mode are listened on (the routing mesh): 0.0.0.0 for every address, as Swarm, one address when several nodes share a host, or "off"`)
	cmd.Flags().IntVar(&f.maxConns, "publish-max-conns", 0, "most connections and UDP flows the routing mesh forwards at once (0: sized from the open-file limit)")
}

// check refuses a bad value before anything starts.
func (f *publishFlags) check(cmd *cobra.Command) error {
	if f.addr != "off" && net.ParseIP(f.addr) == nil {
		return usagef(cmd, `invalid --publish-addr %q: want an IP address (0.0.0.0 for every address) or "off"`, f.addr)
	}
	if f.maxConns < 0 {
		return usagef(cmd, "invalid --publish-max-conns %d: want 0 (from the open-file limit) or more", f.maxConns)
	}
	return nil
}

func (f *publishFlags) config() daemon.PublishConfig {
	addr := f.addr
	if addr == "off" {
		addr = ""
	}
	return daemon.PublishConfig{Addr: addr, MaxConns: f.maxConns}
}

// publishWhere names where the routing mesh listens.
func publishWhere(addr string) string {
	if ip := net.ParseIP(addr); ip != nil && ip.IsUnspecified() {
		return "every address"
	}
	return addr
}

// newLogger returns the logger of a node process, or a usage error.
func newLogger(a *app, cmd *cobra.Command, logLevel string) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return nil, usagef(cmd, "invalid --log-level %q: want debug, info, warn or error", logLevel)
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level})), nil
}

// displayAddr turns a wildcard listen address into one to print.
func displayAddr(addr, host string) string {
	if h, port, err := net.SplitHostPort(addr); err == nil && (h == "::" || h == "0.0.0.0" || h == "") {
		return net.JoinHostPort(host, port)
	}
	return addr
}

// DefaultAgentDataDir is where `shoal agent` keeps its state unless told
// otherwise: next to shoal dev's folder, so that both can run on one
// machine.
func DefaultAgentDataDir() string {
	return filepath.Join(filepath.Dir(DefaultDataDir()), "shoal-agent")
}

func newAgentCmd(a *app) *cobra.Command {
	var manager, token, addr, dataDir, hostname, logLevel string
	var labels []string
	var ing ingressFlags
	var pub publishFlags
	var drain time.Duration
	var useDocker bool
	cmd := &cobra.Command{
		Use:   "agent --manager HOST:PORT --token TOKEN [OPTIONS]",
		Short: "Run a worker node that joins a cluster",
		Long: `Run a worker node: an agent that joins the manager at --manager (the
address of its --listen-agents) with the cluster's join token, runs the
tasks the scheduler places on this node, and serves the HTTP ingress, which
routes to the healthy tasks of the whole cluster, and the routing mesh:
every port a service publishes in ingress mode answers on this node too.

The manager prints the command to run; ` + "`shoal swarm join-token worker`" + ` on the
manager prints it again. The token may also come from SHOAL_JOIN_TOKEN.

The link to the manager is plain HTTP: keep it on a trusted network.

Tasks keep running when the agent stops or loses the manager; the agent
reconnects on its own, and the next agent on the same data folder adopts
them. A wrong token stops the agent with exit code 1.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(a, cmd, logLevel)
			if err != nil {
				return err
			}
			if err := pub.check(cmd); err != nil {
				return err
			}
			if manager == "" {
				return usagef(cmd, "--manager is required: the manager's agent address (shoal dev --listen-agents)")
			}
			if token == "" {
				token = os.Getenv("SHOAL_JOIN_TOKEN")
			}
			if token == "" {
				return usagef(cmd, "--token is required (`shoal swarm join-token worker` on the manager prints it)")
			}
			nodeLabels, err := parseLabels("label", labels)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ag, err := daemon.StartAgent(ctx, daemon.AgentConfig{DataDir: dataDir, Manager: manager, Token: token, Addr: addr,
				Hostname: hostname, Labels: nodeLabels, Logger: log, Ingress: ing.config(), Publish: pub.config(), Docker: useDocker, DrainDelay: drain})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "shoal agent: node %s joining the cluster at %s\n", ag.NodeID(), manager)
			select {
			case <-ag.Registered():
			case <-ag.Done():
			case <-ctx.Done():
			}
			if err := ag.Err(); err != nil {
				ag.Close()
				return err
			}
			if ctx.Err() == nil {
				fmt.Fprintf(a.stdout, "shoal agent: node %s joined (worker)\n", ag.NodeID())
				fmt.Fprintf(a.stdout, "  data folder: %s\n", ag.DataDir())
				fmt.Fprintf(a.stdout, "  address:     %s\n", ag.Addr())
				if in := ag.IngressAddr(); in != "" {
					fmt.Fprintf(a.stdout, "  ingress:     http://%s (routes by traefik.* service labels)\n", displayAddr(in, "localhost"))
				}
				if pc := pub.config(); pc.Addr != "" {
					fmt.Fprintf(a.stdout, "  published:   ports services publish answer on %s (routing mesh)\n", publishWhere(pc.Addr))
				}
				select {
				case <-ag.Done():
				case <-ctx.Done():
				}
			}
			if err := ag.Err(); err != nil {
				ag.Close()
				return err
			}
			fmt.Fprintln(a.stdout, "shoal agent: stopping (tasks keep running and are adopted on the next start)")
			return ag.Close()
		},
	}
	cmd.Flags().StringVar(&manager, "manager", "", "the manager's agent address, HOST:PORT (its --listen-agents)")
	cmd.Flags().StringVar(&token, "token", "", "the cluster's join token (env SHOAL_JOIN_TOKEN)")
	cmd.Flags().StringVar(&addr, "addr", "", "the node's address: task ports are published on it, and other nodes reach them there (default: the address that reaches the manager)")
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultAgentDataDir(), "folder for the node's ID and task folders")
	cmd.Flags().StringVar(&hostname, "hostname", "", "the node's hostname in the cluster (default: the machine's)")
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "node label KEY=VALUE, for constraints on engine.labels.KEY (repeatable)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	ing.add(cmd)
	pub.add(cmd)
	cmd.Flags().BoolVar(&useDocker, "docker", true, "offer the docker runtime when a Docker Engine answers")
	cmd.Flags().DurationVar(&drain, "drain-delay", time.Second, "how long a task with ports keeps serving after it leaves the ingress pools, before its stop signal")
	return cmd
}
