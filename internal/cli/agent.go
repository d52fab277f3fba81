//go:build linux || windows

package cli

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/ingress"
	"github.com/shoalproject/shoal/internal/ingress/middleware"
)

// ingressFlags are the --ingress* flags of a node process.
type ingressFlags struct {
	addr          string
	accessLog     bool
	requireEnable bool
	maxBody       int64
	maxConns      int
	idleTimeout   time.Duration
	// respTimeout is the backends' response-header timeout (0: none).
	respTimeout time.Duration
	// allowSlash and allowBackslash let request paths hold %2F and %5C.
	allowSlash, allowBackslash bool
	// tlsAddr and certs are the websecure entry point's address and
	// certificate files.
	tlsAddr string
	certs   []string
	// trusted are the --ingress-trusted-ips.
	trusted []string
	// clientCA is the --ingress-tls-client-ca file; tlsOptions the
	// --ingress-tls-options file.
	clientCA, tlsOptions string
}

func (f *ingressFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "ingress", ":8080", `address of the HTTP ingress, or "off"`)
	cmd.Flags().BoolVar(&f.accessLog, "ingress-access-log", false, "log every request the ingress serves")
	cmd.Flags().BoolVar(&f.requireEnable, "ingress-require-enable", false, "route only services labelled traefik.enable=true (Traefik's exposedByDefault=false)")
	cmd.Flags().Int64Var(&f.maxBody, "ingress-max-body", 0, "largest request body the ingress accepts, in bytes (0: no limit)")
	cmd.Flags().IntVar(&f.maxConns, "ingress-max-conns", 0, "most client connections the ingress keeps open; more are closed at once (0: half of what the open-file limit leaves after a reserve of max(128, limit/4))")
	cmd.Flags().DurationVar(&f.idleTimeout, "ingress-idle-timeout", 180*time.Second, "close a client keep-alive connection idle this long")
	cmd.Flags().DurationVar(&f.respTimeout, "ingress-response-header-timeout", ingress.DefaultResponseHeaderTimeout,
		"answer 504 when a task has not started its response this long after the request (Traefik's forwardingTimeouts.responseHeaderTimeout; 0: wait as long as the client)")
	cmd.Flags().BoolVar(&f.allowSlash, "ingress-allow-encoded-slash", false, "let request paths hold an encoded slash (%2F), sent on encoded; otherwise answered 400")
	cmd.Flags().BoolVar(&f.allowBackslash, "ingress-allow-encoded-backslash", false, `let request paths hold a backslash (%5C or \), sent on as %5C; otherwise answered 400`)
	cmd.Flags().StringVar(&f.tlsAddr, "ingress-tls", "", "address of the ingress's HTTPS entry point (websecure), which serves the routers with tls=true with the certificates of --ingress-cert and of the services' certificate labels")
	cmd.Flags().StringVar(&f.clientCA, "ingress-tls-client-ca", "", "PEM file of CA certificates: --ingress-tls then asks clients for a certificate and verifies one given against them, for the passtlsclientcert middleware (read again on SIGHUP and when it changes)")
	cmd.Flags().StringVar(&f.tlsOptions, "ingress-tls-options", "", "YAML file of TLS options for --ingress-tls, in Traefik's dynamic configuration form (tls: options: NAME: minVersion, maxVersion, cipherSuites, curvePreferences, sniStrict, alpnProtocols, clientAuth): routers name them with tls.options, and its default entry replaces the defaults; read again, with its caFiles, on SIGHUP and when it changes, a file that no longer loads keeping the old options (docs/ingress.md)")
	cmd.Flags().StringSliceVar(&f.trusted, "ingress-trusted-ips", nil, "IP addresses and CIDR ranges of proxies in front of the ingress whose X-Forwarded-* headers it keeps and appends to (Traefik's forwardedHeaders.trustedIPs); others' are replaced")
	cmd.Flags().StringArrayVar(&f.certs, "ingress-cert", nil, "PEM file with a certificate chain and its private key for --ingress-tls (repeat it: each connection gets the one its SNI names)")
}

// config is the ingress configuration the flags ask for, or a usage
// error.
func (f *ingressFlags) config(cmd *cobra.Command) (daemon.IngressConfig, error) {
	addr := f.addr
	if addr == "off" {
		addr = ""
	}
	if f.maxConns < 0 {
		return daemon.IngressConfig{}, usagef(cmd, "invalid --ingress-max-conns %d: want 0 (sized from the open-file limit) or more", f.maxConns)
	}
	if f.idleTimeout <= 0 {
		return daemon.IngressConfig{}, usagef(cmd, "invalid --ingress-idle-timeout %s: want a positive duration, e.g. 180s", f.idleTimeout)
	}
	if f.respTimeout < 0 {
		return daemon.IngressConfig{}, usagef(cmd, "invalid --ingress-response-header-timeout %s: want 0 (no timeout) or a positive duration, e.g. 60s", f.respTimeout)
	}
	respTimeout := f.respTimeout
	if respTimeout == 0 {
		respTimeout = -1 // none
	}
	cfg := daemon.IngressConfig{Addr: addr, AccessLog: f.accessLog, RequireEnable: f.requireEnable, MaxBodyBytes: f.maxBody,
		MaxConns: f.maxConns, IdleTimeout: f.idleTimeout, ResponseHeaderTimeout: respTimeout,
		AllowEncodedSlash: f.allowSlash, AllowEncodedBackslash: f.allowBackslash}
	switch {
	case f.tlsAddr == "" && len(f.certs) > 0:
		return daemon.IngressConfig{}, usagef(cmd, "--ingress-cert needs --ingress-tls ADDR")
	case f.tlsAddr != "" && addr == "":
		return daemon.IngressConfig{}, usagef(cmd, "--ingress-tls needs the ingress (--ingress is off)")
	}
	for _, s := range f.trusted {
		p, err := middleware.ParseIPRange(strings.TrimSpace(s))
		if err != nil {
			return daemon.IngressConfig{}, usagef(cmd, "invalid --ingress-trusted-ips %q: want IP addresses or CIDR ranges, comma-separated", s)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p)
	}
	cfg.TLSAddr = f.tlsAddr
	if f.clientCA != "" {
		if f.tlsAddr == "" {
			return daemon.IngressConfig{}, usagef(cmd, "--ingress-tls-client-ca needs --ingress-tls ADDR")
		}
		pool, err := ingress.ReadClientCAFile(f.clientCA)
		if err != nil {
			return daemon.IngressConfig{}, usagef(cmd, "invalid --ingress-tls-client-ca: %v", err)
		}
		cfg.ClientCAs = pool
	}
	if f.tlsOptions != "" {
		if f.tlsAddr == "" {
			return daemon.IngressConfig{}, usagef(cmd, "--ingress-tls-options needs --ingress-tls ADDR")
		}
		var err error
		if cfg.TLSOptions, err = ingress.ReadTLSOptionsFile(f.tlsOptions); err != nil {
			return daemon.IngressConfig{}, usagef(cmd, "invalid --ingress-tls-options %s: %v", f.tlsOptions, err)
		}
		if cfg.ClientCAs != nil {
			if _, err := cfg.TLSOptions.WithDefaultClientCAs(cfg.ClientCAs); err != nil {
				return daemon.IngressConfig{}, usagef(cmd, "--ingress-tls-client-ca: %v", err)
			}
		}
	}
	// Read again on SIGHUP and when they change (TLSReload is set once
	// the daemon's context exists: reloadOnHangup).
	cfg.TLSFiles = ingress.TLSFiles{Options: f.tlsOptions, ClientCA: f.clientCA}
	for _, file := range f.certs {
		pem, err := os.ReadFile(file)
		if err != nil {
			return daemon.IngressConfig{}, usagef(cmd, "invalid --ingress-cert: %v", err)
		}
		cert, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			return daemon.IngressConfig{}, usagef(cmd, "invalid --ingress-cert %s: %v (want the certificate chain and its private key, PEM, in one file)", file, err)
		}
		cfg.Certificates = append(cfg.Certificates, cert)
	}
	return cfg, nil
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
	opts := &slog.HandlerOptions{Level: level}
	logFormat := "text"
	if f := cmd.Flags().Lookup("log-format"); f != nil {
		logFormat = f.Value.String()
	}
	switch logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, usagef(cmd, "invalid --log-format %q: want text or json", logFormat)
}

// addLogFlags adds --log-level and --log-format, which newLogger reads.
func addLogFlags(cmd *cobra.Command, level *string) {
	cmd.Flags().StringVar(level, "log-level", "info", "log level: debug, info, warn, error")
	cmd.Flags().String("log-format", "text", "log format: text or json (one object per line, for log shippers)")
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
	var manager, token, tokenFile, addr, dataDir, hostname, logLevel, secretsDir, listenAddr string
	var mf metricsFlags
	var labels []string
	var ing ingressFlags
	var pub publishFlags
	var drain time.Duration
	var useDocker bool
	var dockerAddr string
	cmd := &cobra.Command{
		Use:   "agent --manager HOST:PORT [--token-file FILE | --token TOKEN] [OPTIONS]",
		Short: "Run a worker node that joins a cluster",
		Long: `Run a worker node: an agent that joins the manager at --manager (the
address of its --listen-agents) with the cluster's join token, runs the
tasks the scheduler places on this node, and serves the HTTP ingress, which
routes to the healthy tasks of the whole cluster, and the routing mesh:
every port a service publishes in ingress mode answers on this node too.

The manager prints the command to run; ` + "`shoal swarm join-token worker`" + ` on the
manager prints it again. Give the token in a file of yours only you can
read (--token-file, mode 0600) or in SHOAL_JOIN_TOKEN: a --token on the
command line shows in ps to every local user.

The secrets of the node's tasks are written below --secrets-dir, on tmpfs:
shoal makes the folder 0700, and refuses to start when it is another
user's, open to others, or a symbolic link.

The token is needed once: the agent checks that the manager shows the
cluster CA the token names (its SHOALTKN-1-<digest> part) before it sends
anything, and gets the node's certificate for a key it makes and keeps in
--data-dir (node.crt, node.key, ca.crt, mode 0600). Later starts connect
with the certificate alone (TLS 1.3, mutual).

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
			// A node that has its certificate needs no token.
			_, certErr := os.Stat(filepath.Join(dataDir, ca.NodeCertFile))
			// A promoted node's folder is a manager's: it needs none either.
			hasIdentity := certErr == nil || daemon.IsManagerFolder(dataDir)
			if token, err = joinToken(cmd, token, tokenFile, hasIdentity); err != nil {
				return err
			}
			nodeLabels, err := parseLabels("label", labels)
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			ic, err := ing.config(cmd)
			if err != nil {
				return err
			}
			metricsToken, err := mf.token(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ic.TLSReload = reloadOnHangup(ctx, ic.TLSFiles)
			acfg := daemon.AgentConfig{DataDir: dataDir, Manager: manager, Token: token, Addr: addr,
				Hostname: hostname, Labels: nodeLabels, Logger: log, Ingress: ic, Docker: useDocker, DockerAddr: dockerAddr, Publish: pub.config(), DrainDelay: drain,
				SecretsDir: secretsDir, ListenAddr: listenAddr, MetricsAddr: mf.addr, MetricsToken: metricsToken}
			if daemon.IsManagerFolder(dataDir) {
				// Promoted before: the node is a manager now.
				return runPromotedManager(a, ctx, acfg)
			}
			ag, err := daemon.StartAgent(ctx, acfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "shoal agent: node %s joining the cluster at %s\n", ag.NodeID(), manager)
			select {
			case <-ag.Registered():
			case <-ag.Done():
			case <-ctx.Done():
			case <-ag.Promoted():
				// Promoted while it was away (ErrManagerNode).
				return runPromoted(a, ctx, ag, acfg)
			}
			if err := ag.Err(); err != nil {
				ag.Close()
				return err
			}
			if ctx.Err() == nil {
				fmt.Fprintf(a.stdout, "shoal agent: node %s joined (worker)\n", ag.NodeID())
				fmt.Fprintf(a.stdout, "  data folder: %s\n", ag.DataDir())
				fmt.Fprintf(a.stdout, "  address:     %s\n", ag.Addr())
				if m := ag.MetricsAddr(); m != "" {
					fmt.Fprintf(a.stdout, "  metrics:     http://%s/metrics (bearer token from --metrics-token-file)\n", m)
				}
				if in := ag.IngressAddr(); in != "" {
					fmt.Fprintf(a.stdout, "  ingress:     http://%s (routes by traefik.* service labels)\n", displayAddr(in, "localhost"))
				}
				if in := ag.IngressTLSAddr(); in != "" {
					fmt.Fprintf(a.stdout, "  ingress TLS: https://%s (routers with tls=true)\n", displayAddr(in, "localhost"))
				}
				if pc := pub.config(); pc.Addr != "" {
					fmt.Fprintf(a.stdout, "  published:   ports services publish answer on %s (routing mesh)\n", publishWhere(pc.Addr))
				}
				select {
				case <-ag.Done():
				case <-ctx.Done():
				case <-ag.Promoted():
					return runPromoted(a, ctx, ag, acfg)
				}
			}
			if err := ag.Err(); errors.Is(err, daemon.ErrLeft) {
				fmt.Fprintf(a.stdout, "shoal agent: node %s left the swarm\n", ag.NodeID())
				return ag.Close()
			} else if err != nil {
				ag.Close()
				return err
			}
			fmt.Fprintln(a.stdout, "shoal agent: stopping (tasks keep running and are adopted on the next start)")
			return ag.Close()
		},
	}
	cmd.Flags().StringVar(&manager, "manager", "", "the manager's agent address, HOST:PORT (its --listen-agents)")
	cmd.Flags().StringVar(&token, "token", "", "the cluster's join token (env SHOAL_JOIN_TOKEN); other local users see it in ps: prefer --token-file or the env")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "regular file holding the cluster's join token, owned by this user (or root) and readable by its owner only (mode 0600)")
	cmd.Flags().StringVar(&addr, "addr", "", "the node's address, one of this machine's: task ports are published on it, other nodes reach them there, and the agent connects to the manager from it (default: the address that reaches the manager)")
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultAgentDataDir(), "folder for the node's ID and task folders")
	if promotable {
		cmd.Flags().StringVar(&listenAddr, "listen-addr", "", "the cluster port, IP:PORT (IP the node's --addr, or 0.0.0.0), this node serves once promoted to manager (`shoal node promote`); without it the node cannot be promoted")
	}
	cmd.Flags().StringVar(&hostname, "hostname", "", "the node's hostname in the cluster (default: the machine's)")
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "node label KEY=VALUE, for constraints on engine.labels.KEY (repeatable)")
	addLogFlags(cmd, &logLevel)
	ing.add(cmd)
	pub.add(cmd)
	cmd.Flags().BoolVar(&useDocker, "docker", true, "offer the docker runtime when a Docker Engine answers")
	cmd.Flags().StringVar(&dockerAddr, "docker-addr", "", "IP address the Docker Engine publishes the node's container ports on (default: --addr), for a node whose engine is in another network namespace (nodes sharing one host's engine); the node reports them on --addr, so it must forward those ports there")
	cmd.Flags().DurationVar(&drain, "drain-delay", time.Second, "how long a task with ports or networks keeps serving after it leaves the ingress pools and the VIPs, before its stop signal")
	addSecretsDirFlag(cmd, &secretsDir)
	mf.add(cmd, "TCP address serving the node's Prometheus metrics (/metrics: its ingress under Traefik's names, the process), e.g. 127.0.0.1:9324; needs --metrics-token-file")
	return cmd
}

// addSecretsDirFlag adds the --secrets-dir flag of a node process.
func addSecretsDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "secrets-dir", daemon.DefaultSecretsDir,
		"tmpfs folder for the secrets of this machine's tasks (made 0700; refused when another user's or open to others)")
}

// joinToken returns the join token from --token, else --token-file, else
// SHOAL_JOIN_TOKEN, or a usage error (none when optional: the node has its
// certificate). The file must be private: the token lets whoever holds it
// join the cluster and receive its tasks' secrets.
func joinToken(cmd *cobra.Command, token, file string, optional bool) (string, error) {
	if token != "" && file != "" {
		return "", usagef(cmd, "--token and --token-file cannot be used together")
	}
	if file != "" {
		// Not blocking: a FIFO without a writer would wait forever.
		f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return "", usagef(cmd, "read --token-file: %v", err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return "", usagef(cmd, "read --token-file: %v", err)
		}
		if !fi.Mode().IsRegular() {
			return "", usagef(cmd, "--token-file %s is not a regular file (%s): write the token to a file", file, fi.Mode().Type())
		}
		if err := checkTokenFileOwner(cmd, file, fi); err != nil {
			return "", err
		}
		b, err := io.ReadAll(io.LimitReader(f, 4096))
		if err != nil {
			return "", usagef(cmd, "read --token-file: %v", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return "", usagef(cmd, "--token-file %s is empty", file)
		}
		return token, nil
	}
	if token == "" {
		token = os.Getenv("SHOAL_JOIN_TOKEN")
	}
	if token == "" && !optional {
		return "", usagef(cmd, "--token-file or SHOAL_JOIN_TOKEN is required (--token too, but it shows in ps): `shoal swarm join-token worker` on the manager prints the token")
	}
	return token, nil
}
