//go:build linux

package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/demo"
)

func newDemoCmd(a *app) *cobra.Command {
	var dataDir, ingressAddr, signupBin, logLevel, runtime string
	var keepImage bool
	var tour, wait bool
	var stepDelay time.Duration
	cmd := &cobra.Command{
		Use:   "demo [--tour]",
		Short: "Run the signup example app and, with --tour, its high-availability story",
		Long: `Start a one-node dev cluster (or use the running cluster that -H/--host
names), build the signup example (examples/signup: a homepage, a web form,
a reference-data API, a NATS queue, a save handler and a SQLite database),
create its networks, configs and secrets, deploy it with the stack files
of examples/signup/stack, wait until every service is healthy, and print
its URL and the commands to replay the walkthrough by hand (README,
"Walkthrough").

--runtime docker runs the services as containers instead: the demo builds
the image shoal-demo/signup FROM scratch with the classic builder (no
registry needed) from the statically built program, deploys the stack files
of examples/signup/stack/docker, and removes the image when it ends.

--tour plays the story by itself: a killed replica replaced, two replicas
serving through a kill, anti-forgery failures without sticky sessions and
none with them, a start-first rollout that fails no request, a broken
release rolled back on its own, and two nodes that join while nothing
moves, until service update --force spreads reference-data-api over them.
For that last step the demo holds back two worker nodes, shoal-demo-1 and
shoal-demo-2: network namespaces on a bridge of this host (shdb-ID), each
of which starts a shoal agent at that step. With --runtime docker their
agents run containers on this machine's one Docker engine, which publishes
their ports on the host's address on that bridge (shoal agent
--docker-addr), and each node forwards its own address's ports there;
each agent sees only the containers labelled with its node ID.

With -H the demo adds no node: when the cluster has at least two ready,
active nodes with spare capacity that run the runtime's tasks, it pauses
all of them but one (a manager) before it deploys, and makes them active
again at the last step, which to the scheduler is what a node joining is;
the cleanup makes them active in any case. With fewer, the tour tells
that step instead of playing it, and says why. The nodes must be on this
machine: the tasks run the signup program (or the image) built here.

Ctrl-C removes what the demo made (stacks and their tasks, networks,
configs, secrets, the database, the image it built, the extra nodes: their
agents, containers, namespaces, links, firewall rules and folders) and stops the
cluster it started. The services reach each other by name over overlay
networks, which needs root for the process runtime.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			log, err := newLogger(a, cmd, logLevel)
			if err != nil {
				return err
			}
			if runtime != "process" && runtime != "docker" {
				return usagef(cmd, "--runtime %q: want process or docker", runtime)
			}
			external := cmd.Flags().Changed("host")
			if !external && os.Geteuid() != 0 {
				return errors.New("shoal demo starts a cluster whose process tasks reach each other by name over overlay networks, which needs root: run it with sudo, or point -H at a cluster that runs as root")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			defer func() { // Ctrl-C at any step ends the demo; it is no failure
				if err != nil && ctx.Err() != nil {
					err = nil
				}
			}()

			work, err := os.MkdirTemp("", "shoal-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			var c *client.Client
			var extra demo.Extra
			base := "http://" + displayAddr(ingressAddr, "localhost")
			if external {
				if c, err = a.client(); err != nil {
					return err
				}
				if tour {
					paused, why, err := demo.HoldExisting(ctx, c, runtime)
					if err != nil {
						return err
					}
					extra.Why = why
					if paused != nil {
						fmt.Fprintf(a.stdout, "shoal demo: pausing %s (availability pause) until the tour's last step\n", paused)
						defer func() {
							cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
							defer cancel()
							if err := paused.Restore(cctx); err != nil {
								fmt.Fprintf(a.stderr, "shoal demo: cleanup: make %s active again: %v\n", paused, err)
							}
						}()
						extra = paused.Extra()
					}
				}
			} else {
				var nodes *demo.Nodes
				cfg := daemon.DevConfig{DataDir: dataDir, Addr: "127.0.0.1", Logger: log, IngressAddr: ingressAddr, Docker: true, DrainDelay: time.Second}
				if tour {
					if nodes, err = demo.HoldNodes(filepath.Join(work, "n"), "shoal-demo-1", "shoal-demo-2"); err != nil {
						return err
					}
					defer func() { // last: after the cluster stopped
						fmt.Fprintln(a.stdout, "shoal demo: removing the extra nodes' containers, namespaces, links, firewall rules and folders")
						if err := nodes.Close(); err != nil {
							fmt.Fprintf(a.stderr, "shoal demo: cleanup: %v\n", err)
						}
					}()
					if runtime == "docker" {
						if err := nodes.ShareEngine(); err != nil {
							return err
						}
					}
					cfg.Addr = nodes.Addr().String()
					cfg.AgentListen = net.JoinHostPort(cfg.Addr, "0")
				}
				fmt.Fprintf(a.stdout, "shoal demo: starting a one-node cluster in %s\n", dataDir)
				if nodes != nil {
					fmt.Fprintf(a.stdout, "shoal demo: holding back two nodes for the tour's last step: %s\n", nodes)
				}
				d, err := daemon.StartDev(ctx, cfg)
				if err != nil {
					return err
				}
				defer d.Close()
				base = "http://" + displayAddr(d.IngressAddr(), "localhost")
				if c, err = client.New(d.Host()); err != nil {
					return err
				}
				a.host = d.Host()
				if nodes != nil {
					if extra, err = joinLater(ctx, c, nodes, d.AgentAddr()); err != nil {
						return err
					}
					extra.How = "each a shoal agent in a\nnetwork namespace of its own on this machine"
					if runtime == "docker" {
						extra.How += ", running its containers on this machine's\nDocker engine (each agent sees only the containers labelled with its node ID)"
					}
					defer func() { // after the stacks' removal, before the cluster stops
						if len(nodes.IDs()) > 0 {
							fmt.Fprintln(a.stdout, "shoal demo: draining the extra nodes, stopping their agents and removing them from the cluster")
						}
						cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
						defer cancel()
						if err := nodes.Leave(cctx, c); err != nil {
							fmt.Fprintf(a.stderr, "shoal demo: cleanup: %v\n", err)
						}
					}()
				}
			}
			pw := make([]byte, 16)
			_, _ = rand.Read(pw)
			e := &demo.Env{Client: c, Bin: signupBin, DBDir: filepath.Join(work, "signup-db"), StackDir: filepath.Join(work, "stack"), Password: hex.EncodeToString(pw)}
			if err := os.MkdirAll(e.DBDir, 0o700); err != nil {
				return err
			}
			if e.Bin == "" {
				fmt.Fprintln(a.stdout, "shoal demo: building examples/signup")
				if e.Bin, err = demo.Build(ctx, work); err != nil {
					return err
				}
			} else if e.Bin, err = filepath.Abs(e.Bin); err != nil {
				return err
			} else if st, err := os.Stat(e.Bin); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
				return usagef(cmd, "--signup-bin %s: not an executable file (go build -o signup ./examples/signup)", e.Bin)
			}
			if err := demo.WriteStackFiles(e.StackDir); err != nil {
				return err
			}
			if err := demo.CheckFree(ctx, c); err != nil {
				return err
			}
			if runtime == "docker" {
				fmt.Fprintf(a.stdout, "shoal demo: building the image %s (FROM scratch, classic builder)\n", demo.ImageTag)
				if err := demo.BuildImage(ctx, e.Bin, demo.ImageTag); err != nil {
					return err
				}
				e.Image = demo.ImageTag
				if !keepImage {
					defer func() {
						fmt.Fprintf(a.stdout, "shoal demo: removing the image %s\n", demo.ImageTag)
						cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						if err := demo.RemoveImage(cctx, demo.ImageTag); err != nil {
							fmt.Fprintf(a.stderr, "shoal demo: cleanup: %v\n", err)
						}
					}()
				}
			}
			// From here on, Ctrl-C or a failure removes what the demo made.
			defer func() {
				fmt.Fprintln(a.stdout, "shoal demo: removing the stacks, networks, configs and secrets it made")
				cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				vnis := demo.NetworkVNIs(cctx, c)
				if err := demo.Cleanup(cctx, c); err != nil {
					fmt.Fprintf(a.stderr, "shoal demo: cleanup: %v\n", err)
				}
				if !external { // the node is this host: its links and rules go before it stops
					if err := demo.WaitPlumbingGone(cctx, vnis); err != nil {
						fmt.Fprintf(a.stderr, "shoal demo: cleanup: %v\n", err)
					}
				}
			}()
			fmt.Fprintln(a.stdout, "shoal demo: creating networks, configs and secrets; deploying stacks infrastructure and signup (signup-v1.yml)")
			if err := demo.Setup(ctx, e); err != nil {
				return err
			}
			upCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err = demo.Up(upCtx, e)
			cancel()
			if err != nil {
				return err
			}
			printDemoReady(a, e, base)
			if tour {
				pause := func(ctx context.Context) error { return sleepCtx(ctx, stepDelay) }
				if wait {
					lines := readLines(ctx, a.stdin)
					pause = func(ctx context.Context) error {
						fmt.Fprint(a.stdout, "   [Enter to go on]")
						select { // Ctrl-C while waiting for Enter ends the tour
						case <-ctx.Done():
							return ctx.Err()
						case _, ok := <-lines:
							if !ok {
								return io.EOF
							}
							return nil
						}
					}
				}
				if err := demo.Tour(ctx, e, base, extra, a.stdout, pause); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return fmt.Errorf("tour: %w", err)
				}
				fmt.Fprintln(a.stdout, "\nThe tour is over; the app keeps running. Ctrl-C to remove it.")
			}
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", filepath.Join(os.TempDir(), "shoal-demo"), "folder of the demo cluster's state (not with -H)")
	cmd.Flags().StringVar(&ingressAddr, "ingress", ":8080", "address of the HTTP ingress the app answers on (with -H: where the cluster's ingress answers)")
	cmd.Flags().StringVar(&signupBin, "signup-bin", "", "the signup program, already built (default: go build ./examples/signup)")
	cmd.Flags().StringVar(&runtime, "runtime", "process", "run the services as host processes (process) or containers (docker)")
	cmd.Flags().BoolVar(&keepImage, "keep-image", false, "with --runtime docker: keep the image the demo built")
	cmd.Flags().BoolVar(&tour, "tour", false, "play the story step by step, narrated")
	cmd.Flags().BoolVar(&wait, "wait", false, "with --tour: wait for Enter between steps")
	cmd.Flags().DurationVar(&stepDelay, "step-delay", 3*time.Second, "with --tour: pause between steps")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "cluster log level: debug, info, warn or error")
	return cmd
}

// joinLater is the tour's Extra on nodes: Join starts their agents,
// which join the cluster with its worker token; once they did, the
// cleanup (deferred by the caller, after the stacks' removal) takes them
// out of the cluster before it stops.
func joinLater(ctx context.Context, c *client.Client, nodes *demo.Nodes, agentAddr string) (demo.Extra, error) {
	self, err := os.Executable()
	if err != nil {
		return demo.Extra{}, fmt.Errorf("the extra nodes run this program: %w", err)
	}
	sw, err := c.SwarmInspect(ctx)
	if err != nil {
		return demo.Extra{}, err
	}
	return demo.Extra{Names: nodes.Names(), Join: func(ctx context.Context) ([]string, error) {
		jctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		err := nodes.Join(jctx, c, self, agentAddr, sw.JoinTokens.Worker)
		return nodes.IDs(), err
	}}, nil
}

func printDemoReady(a *app, e *demo.Env, base string) {
	w := a.stdout
	fmt.Fprintf(w, "\nshoal demo: the signup app is up and healthy\n")
	fmt.Fprintf(w, "  open:        %s/  (the form: %s/app/, reference data: %s/api/countries)\n", base, base, base)
	fmt.Fprintf(w, "  stack files: %s\n", filepath.Dir(e.StackFile("signup-v1.yml")))
	fmt.Fprintf(w, "  in another shell:\n")
	fmt.Fprintf(w, "    export SHOAL_HOST=%s SIGNUP_BIN=%s SIGNUP_DATA=%s SIGNUP_IMAGE=%s\n", a.host, e.Bin, e.DBDir, e.Image)
	fmt.Fprintf(w, "    shoal stack services signup; shoal service ps signup_signup-web\n")
	fmt.Fprintf(w, "    shoal service update signup_signup-web --replicas 2\n")
	fmt.Fprintf(w, "    shoal stack deploy -c %s signup\n", e.StackFile("signup-v2.yml"))
	fmt.Fprintf(w, "    shoal stack deploy -c %s signup\n", e.StackFile("signup-v3.yml"))
	fmt.Fprintf(w, "  the README's Walkthrough tells what each step shows; `shoal demo --tour` plays it.\n")
	fmt.Fprintf(w, "  Ctrl-C removes the app (and stops the cluster the demo started).\n")
}

// readLines sends each line read from r; the channel closes at its end.
// The reader goroutine ends with the input or, at its next line, with ctx.
func readLines(ctx context.Context, r io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return lines
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
