//go:build linux

package cli

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/allocator"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/state"
)

func newDevCmd(a *app) *cobra.Command { return newManagerNodeCmd(a, false) }

// newManagerNodeCmd is `shoal dev` (a one-node cluster) or, with
// manager, `shoal manager` (a manager of a cluster of several, listening
// on its cluster port): the same node, told apart by their flags.
func newManagerNodeCmd(a *app, manager bool) *cobra.Command {
	var dataDir, addr, logLevel, listenAgents, secretsDir, dockerAPI string
	var join, token, tokenFile string
	var mf metricsFlags
	var rf remoteFlags
	var uiAddr string
	var heartbeat, drain, certExpiry, orphanAfter time.Duration
	var useDocker, autolock bool
	var ing ingressFlags
	var pub publishFlags
	var addrPools []string
	var poolMaskLen int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a one-node cluster (manager and agent) in this process",
		Long: `Run a one-node cluster: a manager with its Raft state, an agent with the
process runtime, and the API on a unix socket in the data folder.

With --listen-agents ADDR, the manager also serves agents of other nodes
(` + "`shoal agent`" + `) on that TCP address. They join with the cluster's join token,
made at the first start and kept in the data folder; shoal dev prints the
command to run, and ` + "`shoal swarm join-token worker`" + ` prints it again. The
agent port is TLS 1.3 with client certificates: the token (which names the
cluster CA by its digest) admits a new node once and gets it a certificate;
every later request is authenticated by that certificate. Set --addr to an
address the other nodes reach this one on.

The secrets of the node's tasks are written below --secrets-dir, on tmpfs:
shoal makes the folder 0700, and refuses to start when it is another
user's, open to others, or a symbolic link.

Tasks keep running when shoal dev stops; the next shoal dev on the same data
folder adopts them.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(a, cmd, logLevel)
			if err != nil {
				return err
			}
			if err := pub.check(cmd); err != nil {
				return err
			}
			if err := rf.check(cmd, dockerAPI); err != nil {
				return err
			}
			ic, err := ing.config(cmd)
			if err != nil {
				return err
			}
			if err := ca.CheckExpiry(certExpiry); err != nil {
				return usagef(cmd, "invalid --cert-expiry: %v", err)
			}
			if orphanAfter <= 0 {
				return usagef(cmd, "invalid --orphan-after %s: want a positive duration (default %s)", orphanAfter, state.DefaultOrphanAfter)
			}
			nodeAddr := addr
			if manager {
				host, _, err := net.SplitHostPort(addr)
				if err != nil || net.ParseIP(host) == nil {
					return usagef(cmd, "--addr %q: want IP:PORT, the cluster port other managers and agents reach this one on", addr)
				}
				nodeAddr, listenAgents = host, addr
				if join != "" {
					if token, err = joinToken(cmd, token, tokenFile, false); err != nil {
						return err
					}
				}
			}
			metricsToken, err := mf.token(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ic.TLSReload = reloadOnHangup(ctx, ic.TLSFiles)
			if !cmd.Flags().Changed("cert-expiry") {
				// The cluster's, or the default for a new one.
				certExpiry = 0
			}
			if !cmd.Flags().Changed("orphan-after") {
				orphanAfter = 0 // the cluster's
			}
			cfg := daemon.DevConfig{Join: join, JoinToken: token, CertExpiry: certExpiry, OrphanAfter: orphanAfter, DataDir: dataDir, Addr: nodeAddr, Logger: log, HeartbeatPeriod: heartbeat,
				IngressAddr: ic.Addr, Docker: useDocker, DrainDelay: drain,
				IngressAccessLog: ic.AccessLog, IngressRequireEnable: ic.RequireEnable, IngressMaxBodyBytes: ic.MaxBodyBytes,
				IngressMaxConns: ic.MaxConns, IngressIdleTimeout: ic.IdleTimeout, IngressResponseHeaderTimeout: ic.ResponseHeaderTimeout,
				IngressAllowEncodedSlash: ic.AllowEncodedSlash, IngressAllowEncodedBackslash: ic.AllowEncodedBackslash,
				IngressTLSAddr: ic.TLSAddr, IngressCertificates: ic.Certificates, IngressTrustedProxies: ic.TrustedProxies, IngressClientCAs: ic.ClientCAs,
				IngressTLSOptions: ic.TLSOptions, IngressTLSFiles: ic.TLSFiles, IngressTLSReload: ic.TLSReload,
				AgentListen: listenAgents, SecretsDir: secretsDir, DefaultAddrPool: addrPools,
				Publish: pub.config(), DockerAPISocket: dockerAPI, MetricsAddr: mf.addr, MetricsToken: metricsToken, Autolock: autolock, UIAddr: uiAddr,
				APIAddr: rf.addr, APIHosts: rf.sans}
			if fs := cmd.Flags(); fs.Changed("default-addr-pool") || fs.Changed("default-addr-pool-mask-length") {
				// Checked before anything starts: a usage error, and no
				// data folder made for it.
				pools := addrPools
				if len(pools) == 0 {
					pools = []string{allocator.DefaultPool}
				}
				if _, err := allocator.ParsePool(pools, poolMaskLen); err != nil {
					return usagef(cmd, "invalid --default-addr-pool or --default-addr-pool-mask-length: %v", err)
				}
				cfg.SubnetSize = poolMaskLen
			}
			d, err := daemon.StartDev(ctx, cfg)
			if err != nil {
				return err
			}
			if manager {
				fmt.Fprintf(a.stdout, "shoal manager: ready (node %s, cluster port %s)\n", d.NodeID(), d.AgentAddr())
			} else {
				fmt.Fprintf(a.stdout, "shoal dev: one-node cluster ready (node %s)\n", d.NodeID())
			}
			fmt.Fprintf(a.stdout, "  data folder: %s\n", d.DataDir())
			fmt.Fprintf(a.stdout, "  API:         %s\n", d.Host())
			if addr := d.MetricsAddr(); addr != "" {
				fmt.Fprintf(a.stdout, "  metrics:     http://%s/metrics and /sd (bearer token from --metrics-token-file)\n", addr)
			}
			printUI(a, d)
			if sock := d.DockerSocket(); sock != "" {
				fmt.Fprintf(a.stdout, "  Docker API:  unix://%s (export DOCKER_HOST=unix://%s to use the docker CLI)\n", sock, sock)
			}
			printRemote(a, d)
			if addr := d.IngressAddr(); addr != "" {
				fmt.Fprintf(a.stdout, "  ingress:     http://%s (routes by traefik.* service labels)\n", displayAddr(addr, "localhost"))
			}
			if addr := d.IngressTLSAddr(); addr != "" {
				fmt.Fprintf(a.stdout, "  ingress TLS: https://%s (routers with tls=true)\n", displayAddr(addr, "localhost"))
			}
			if cfg.Publish.Addr != "" {
				fmt.Fprintf(a.stdout, "  published:   ports services publish answer on %s (routing mesh)\n", publishWhere(cfg.Publish.Addr))
			}
			if addr := d.AgentAddr(); addr != "" {
				fmt.Fprintf(a.stdout, "  agents join: %s\n", joinCommand(addr, d.JoinToken()))
			}
			if d.Host() != defaultHost() {
				fmt.Fprintf(a.stdout, "  in another shell: export SHOAL_HOST=%s\n", d.Host())
			}
			fmt.Fprintf(a.stdout, "  try: shoal service create --name web --replicas 3 -- sleep 3600\n")
			if key := d.MadeUnlockKey(); key != "" {
				fmt.Fprintln(a.stdout)
				printUnlockCommand(a.stdout, key)
			}
			select {
			case <-ctx.Done():
			case <-d.Left():
				fmt.Fprintf(a.stdout, "shoal: node %s left the swarm\n", d.NodeID())
				return d.Close()
			}
			fmt.Fprintln(a.stdout, "shoal dev: stopping (tasks keep running and are adopted on the next start)")
			return d.Close()
		},
	}
	if manager {
		cmd.Use = "manager --data-dir DIR --addr IP:PORT [--join MANAGER_IP:PORT --token-file FILE] [OPTIONS]"
		cmd.Short = "Run a manager node of a cluster of several managers"
		cmd.Long = `Run a manager node: a member of the managers' Raft group, a worker too
(as Swarm's managers are), and the API on a unix socket in its data folder.

--addr IP:PORT is the cluster port: other managers speak Raft to it and
agents join it, both over mutual TLS 1.3 (a manager certificate of the
cluster for Raft); task ports are published on IP. The first manager
bootstraps the cluster. Each other one joins it once with --join (any
manager's cluster port) and the manager token (` + "`shoal swarm join-token manager`" + `),
in --token-file (mode 0600) or SHOAL_JOIN_TOKEN; later starts need neither.
Run 3 or 5 managers: a cluster keeps taking writes while a majority of
them is up.`
		cmd.Flags().StringVar(&join, "join", "", "cluster port (IP:PORT) of a manager of the cluster to join, at the first start")
		cmd.Flags().StringVar(&token, "token", "", "the manager join token (env SHOAL_JOIN_TOKEN); other local users see it in ps: prefer --token-file or the env")
		cmd.Flags().StringVar(&tokenFile, "token-file", "", "regular file holding the manager join token, readable by its owner only (mode 0600)")
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultDataDir(), "folder for the cluster's state, task folders and API socket")
	if manager {
		cmd.Flags().StringVar(&addr, "addr", "", "the cluster port, IP:PORT: managers and agents reach this node there, and task ports are published on IP")
		_ = cmd.MarkFlagRequired("addr")
	} else {
		cmd.Flags().StringVar(&addr, "addr", "127.0.0.1", "the node's address: task ports are published on it, and other nodes reach them there")
	}
	addLogFlags(cmd, &logLevel)
	cmd.Flags().DurationVar(&certExpiry, "cert-expiry", ca.DefaultCertExpiry, "life of the node certificates the cluster issues (at least 1h), set when the cluster is created; `shoal swarm update --cert-expiry` changes it")
	cmd.Flags().DurationVar(&orphanAfter, "orphan-after", state.DefaultOrphanAfter, "how long a node stays down before its tasks are marked orphaned (Swarm: 24h), set when the cluster is created")
	cmd.Flags().DurationVar(&heartbeat, "heartbeat", 0, "agent heartbeat period (default 1.5s; a node is down after 3 missed beats)")
	ing.add(cmd)
	pub.add(cmd)
	if !manager {
		cmd.Flags().StringVar(&listenAgents, "listen-agents", "", "TCP address to serve agents (and joining managers) on, e.g. 127.0.0.1:4243 (default: off)")
	}
	cmd.Flags().BoolVar(&autolock, "autolock", false, "lock the managers' secrets key with an unlock key, printed here, that a restarted manager waits for (`shoal swarm unlock`); set when the cluster is created")
	cmd.Flags().BoolVar(&useDocker, "docker", true, "offer the docker runtime when a Docker Engine answers")
	cmd.Flags().DurationVar(&drain, "drain-delay", time.Second, "how long a task with ports or networks keeps serving after it leaves the ingress pool and the VIPs, before its stop signal")
	addSecretsDirFlag(cmd, &secretsDir)
	mf.add(cmd, "TCP address serving Prometheus metrics (/metrics) and scrape targets (/sd), e.g. 127.0.0.1:9323; needs --metrics-token-file (the API socket always serves GET /metrics)")
	addUIFlag(cmd, &uiAddr)
	cmd.Flags().StringVar(&dockerAPI, "docker-api", "", `unix socket serving the Docker Engine API's swarm endpoints, for the docker CLI (default DATA-DIR/docker.sock; "off" for none), or tcp://IP:PORT to serve it to operator certificates with mutual TLS (docker --tlsverify)`)
	rf.add(cmd)
	cmd.Flags().StringSliceVar(&addrPools, "default-addr-pool", nil, "address pool networks get their subnets from, in CIDR form; repeat for several (default 10.0.0.0/8; set when the cluster is created)")
	cmd.Flags().IntVar(&poolMaskLen, "default-addr-pool-mask-length", 24, "prefix length of the subnets cut from the address pool (set when the cluster is created)")
	return cmd
}
