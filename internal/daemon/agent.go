package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/datadir"
	"github.com/shoalproject/shoal/internal/netagent"
	"github.com/shoalproject/shoal/internal/portmesh"
	"github.com/shoalproject/shoal/internal/server"
)

// AgentConfig sets up a worker node that joins a manager over the network.
type AgentConfig struct {
	// DataDir holds the node's ID and its task folders.
	DataDir string
	// Manager is the managers' agent port, HOST:PORT.
	Manager string
	// Token is the cluster's join token, needed only until the node has
	// its certificate (its first start).
	Token string
	// Addr is the node's address: task ports are published on it, and
	// the other nodes' ingresses reach its tasks there. Empty picks the
	// address this machine reaches the manager from.
	Addr string
	// Hostname, when set, is reported instead of the machine's.
	Hostname string
	// Labels are the node's engine labels (constraints on
	// engine.labels.KEY).
	Labels map[string]string
	Logger *slog.Logger
	// Ingress, when its Addr is set, runs the node's HTTP ingress.
	Ingress IngressConfig
	// Publish, when its Addr is set, runs the node's routing mesh.
	Publish PublishConfig
	// Docker offers the docker runtime when a Docker Engine answers.
	Docker bool
	// DockerAddr: see DevConfig.
	DockerAddr string
	// DrainDelay: see DevConfig.
	DrainDelay time.Duration
	// SecretsDir: see DevConfig.
	SecretsDir string
	// MetricsAddr serves the node's /metrics on TCP to requests bearing
	// MetricsToken; empty serves none.
	MetricsAddr  string
	MetricsToken []byte
	// ListenAddr, IP:PORT, is the cluster port the node serves once
	// promoted to manager (`node promote`); empty: it cannot be
	// promoted. The agent only reports it until then.
	ListenAddr string
}

// Agent is a running worker node: an agent with its runtimes, talking to
// the managers through the agent link, and an ingress that routes to the
// whole cluster's tasks.
type Agent struct {
	dir     *datadir.Dir
	nodeID  string
	addr    string
	rts     nodeRuntimes
	link    *agentlink.Client
	ingress *nodeIngress
	// secrets are those the managers sent the ingress.
	secrets *ingressSecrets
	mesh    *portmesh.Mesh
	// net is the node's overlay networking; nil when off.
	net    *netagent.Agent
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// metricsSrv serves the node's metrics on metricsAddr (metrics.go).
	metricsSrv  *http.Server
	metricsAddr string

	registered chan struct{}
	once       sync.Once
	done       chan struct{}
	err        error

	// listenAddr is the cluster port once promoted; roleCh tells
	// promoteWhenAsked of a manager role, which closes promoted once
	// promotedID, the manager certificate, is saved (promote.go).
	listenAddr string
	roleCh     chan string
	promoted   chan struct{}
	promotedID *ca.NodeIdentity

	// leave is the agent, for `swarm leave`, which sock serves
	// (leave.go).
	leave nodeLeave
	sock  *http.Server
}

// StartAgent starts a worker node and returns at once: the agent
// registers in the background, and again whenever its session breaks.
// Registered tells when it first did; Done when it gave up for good.
func StartAgent(ctx context.Context, cfg AgentConfig) (*Agent, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Manager == "" {
		return nil, errors.New("no manager address: pass --manager HOST:PORT (the manager's --listen-agents)")
	}
	if host, port, err := net.SplitHostPort(cfg.Manager); err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("invalid manager address %q: want HOST:PORT", cfg.Manager)
	}
	addr := cfg.Addr
	var err error
	if addr == "" {
		if addr, err = localAddrTowards(cfg.Manager); err != nil {
			return nil, err
		}
	}
	if net.ParseIP(addr) == nil {
		return nil, fmt.Errorf("invalid node address %q: want an IP address", addr)
	}
	if cfg.ListenAddr != "" {
		if err := checkListenAddr(cfg.ListenAddr, addr); err != nil {
			return nil, err
		}
	}
	raiseFileLimit(log)
	dir, err := datadir.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{dir: dir, addr: addr, log: log, registered: make(chan struct{}), done: make(chan struct{}),
		listenAddr: cfg.ListenAddr, roleCh: make(chan string, 1), promoted: make(chan struct{}), leave: newNodeLeave()}
	ok := false
	defer func() {
		if !ok {
			a.closeParts()
		}
	}()
	id, err := nodeIdentity(ctx, dir.Path, cfg, addr, log)
	if err != nil {
		return nil, err
	}
	// The node is who its certificate says.
	a.nodeID = id.ID.NodeID
	// The link connects from the node's address: the manager takes the
	// address a node registers only from that address.
	if a.link, err = agentlink.NewClient(cfg.Manager, id, addr); err != nil {
		return nil, err
	}
	if a.rts, err = openRuntimes(ctx, dir, a.nodeID, addr, cfg.DockerAddr, cfg.SecretsDir, cfg.Docker, log); err != nil {
		return nil, err
	}
	// The managers read the node's task output over the link.
	a.link.SetLogs(a.rts.taskLogs)
	// The node's networking follows the cluster from the routes stream,
	// like the ingress: networks, services, tasks and the nodes'
	// addresses, as the managers observed them.
	var networks agent.Networker
	var view *netView
	// As on a dev node, networking comes with the docker runtime, and
	// without it a process task that names networks is refused, saying
	// why (netOff).
	var netOff string
	if cfg.Docker {
		if a.net, netOff = openNetworking(addr, true, log.With("component", "network")); a.net != nil {
			networks = a.net
			view = newNetView(a.net, log.With("component", "network"))
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	var to sinks
	// The ingress serves once the routes show this node's registration.
	gate := newRegisteredGate(a.nodeID)
	if cfg.Ingress.Addr != "" {
		a.secrets = &ingressSecrets{}
		cfg.Ingress.Secrets = a.secrets.read
		if a.ingress, err = startIngress(cfg.Ingress, gate.ready, &a.wg, log.With("component", "ingress")); err != nil {
			return nil, err
		}
		to = append(to, a.ingress.table)
	}
	if err := a.startAgentMetrics(cfg, log.With("component", "metrics")); err != nil {
		return nil, err
	}
	var mesh *gatedSink
	if cfg.Publish.Addr != "" {
		if a.mesh, err = startMesh(cfg.Publish, log.With("component", "mesh")); err != nil {
			return nil, err
		}
		// As the ingress, the mesh forwards nothing before the node's
		// registration.
		mesh = newGatedSink(a.mesh, gate)
		to = append(to, mesh)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		renewCert(runCtx, dir.Path, id, a.link, log.With("component", "cert"))
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.promoteWhenAsked(runCtx, id)
	}()
	ag := agent.New(agent.Config{
		NodeID:       a.nodeID,
		Addr:         addr,
		Role:         api.RoleWorker,
		Runtimes:     a.rts.list(),
		Manager:      notifyManager{Manager: a.link, first: a.markRegistered},
		Logger:       log.With("component", "agent"),
		Hostname:     cfg.Hostname,
		EngineLabels: cfg.Labels,
		DrainDelay:   cfg.DrainDelay,
		Networks:     networks,
		NetworksOff:  netOff,
		ListenAddr:   cfg.ListenAddr,
		OnRole:       a.onRole,

		// `node ls` shows it as ENGINE VERSION.
		EngineVersion: server.Version,
	})
	gate.session = ag.Session()
	if len(to) > 0 || view != nil {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.followRoutes(runCtx, to, view, gate, mesh, log.With("component", "routes"))
		}()
	}
	agentCtx, agentCancel := context.WithCancel(runCtx)
	a.leave.ag, a.leave.cancel = ag, agentCancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		err := ag.Run(agentCtx)
		close(a.leave.done)
		if errors.Is(err, agentlink.ErrManagerNode) && a.listenAddr != "" {
			// Promoted while this agent was away, before it renewed:
			// its renewal makes it a manager, whose start takes over
			// (StartPromoted closes this agent, and runCtx with it).
			log.Info("this node was promoted while its agent was away")
			a.onRole(api.RoleManager)
			select {
			case <-a.promoted:
				<-runCtx.Done()
				err = nil
			case <-runCtx.Done():
			}
		}
		if err != nil && !errors.Is(err, agent.ErrRejected) {
			// A refusal is the caller's to report, once.
			log.Error("agent stopped", "err", err)
		}
		if runCtx.Err() == nil && agentCtx.Err() != nil {
			// Leaving: done once the node's tasks are stopped.
			select {
			case <-a.leave.left:
				err = ErrLeft
			case <-runCtx.Done():
			}
		}
		a.err = err
		close(a.done)
	}()
	if err := a.serveSocket(log.With("component", "api")); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// localAddrTowards returns the local IP address this machine reaches
// manager from. It sends nothing: a UDP socket only picks the route.
func localAddrTowards(manager string) (string, error) {
	c, err := net.Dial("udp", manager)
	if err != nil {
		return "", fmt.Errorf("find the node address towards %s: %w (pass --addr)", manager, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// notifyManager tells first about every successful registration.
type notifyManager struct {
	agent.Manager
	first func()
}

func (n notifyManager) Register(ctx context.Context, reg api.NodeRegistration) (agent.Session, error) {
	s, err := n.Manager.Register(ctx, reg)
	if err == nil {
		n.first()
	}
	return s, err
}

func (a *Agent) markRegistered() { a.once.Do(func() { close(a.registered) }) }

// followRoutes keeps the ingress table, the routing mesh and the node's
// networking (view, when not nil) current from the managers' routes
// stream, connecting again (with backoff) whenever it breaks, and opens
// gate once they show this node's agent registered; the mesh (nil
// without one) is fed from then on. While the managers
// are away, all go on by what they knew last.
func (a *Agent) followRoutes(ctx context.Context, to sinks, view *netView, gate *registeredGate, mesh *gatedSink, log *slog.Logger) {
	opened := func() {
		if mesh != nil {
			mesh.check()
		}
	}
	reset := func(r agentlink.Routes) {
		to.Reset(r.Services, r.Tasks)
		if view != nil {
			view.Reset(r)
		}
		gate.nodes(r.Nodes...)
		opened()
	}
	apply := func(evs ...api.Event) {
		to.Apply(evs...)
		if view != nil {
			view.Apply(evs...)
		}
		gate.events(evs...)
		opened()
	}
	backoff := 100 * time.Millisecond
	for {
		var synced bool
		var err error
		if a.secrets != nil {
			synced, err = a.link.FollowIngressRoutes(ctx, reset, apply, a.secrets.update)
		} else {
			synced, err = a.link.FollowRoutes(ctx, reset, apply)
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, agent.ErrRejected) {
			// The agent's own registration fails the same way, stops
			// the node and says why: once is enough.
			log.Debug("routes refused", "err", err)
			return
		}
		if synced {
			backoff = 100 * time.Millisecond
		}
		log.Warn("routes stream ended; reconnecting", "err", err, "in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// NodeID is the node's ID.
func (a *Agent) NodeID() string { return a.nodeID }

// Addr is the node's address.
func (a *Agent) Addr() string { return a.addr }

// DataDir is the data folder's path.
func (a *Agent) DataDir() string { return a.dir.Path }

// IngressAddr is the address the ingress listens on, empty without one.
func (a *Agent) IngressAddr() string {
	if a.ingress == nil {
		return ""
	}
	return a.ingress.addr
}

// IngressTLSAddr is the address of the ingress's websecure entry point,
// empty without one.
func (a *Agent) IngressTLSAddr() string {
	if a.ingress == nil {
		return ""
	}
	return a.ingress.tlsAddr
}

// Registered is closed once the agent first registered with the managers.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// Done is closed when the agent stopped: after Close, or on its own when
// the managers refused it for good (Err says why).
func (a *Agent) Done() <-chan struct{} { return a.done }

// Err is why the agent stopped, once Done is closed.
func (a *Agent) Err() error {
	select {
	case <-a.done:
		return a.err
	default:
		return nil
	}
}

// Close stops the node. Its tasks keep running: the next agent on this
// data folder adopts them.
func (a *Agent) Close() error { return a.closeParts() }

func (a *Agent) closeParts() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	a.stopAgentMetrics(ctx)
	if a.ingress != nil {
		_ = a.ingress.stop(ctx)
	}
	if a.sock != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = a.sock.Shutdown(ctx)
		cancel()
	}
	cancel()
	if a.cancel != nil {
		a.cancel()
	}
	if a.mesh != nil {
		a.mesh.Close()
	}
	a.wg.Wait()
	if a.link != nil {
		a.link.Close()
	}
	errs := a.rts.close()
	if a.net != nil {
		errs = append(errs, a.net.Close())
	}
	if a.leave.hasLeft() {
		errs = append(errs, wipeClusterFiles(a.dir))
	}
	errs = append(errs, a.dir.Close())
	return errors.Join(errs...)
}
