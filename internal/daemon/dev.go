// Package daemon assembles shoal's processes from their parts. Dev is the
// one-node cluster of `shoal dev`: a manager, an agent with the process
// runtime, and the API on a unix socket, all in one process.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/agent"
	"github.com/shoalproject/shoal/internal/agentlink"
	"github.com/shoalproject/shoal/internal/ca"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/connlimit"
	"github.com/shoalproject/shoal/internal/datadir"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/metrics"
	"github.com/shoalproject/shoal/internal/netagent"
	"github.com/shoalproject/shoal/internal/portmesh"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/server"
)

// Dev is a running one-node cluster.
type Dev struct {
	dir     *datadir.Dir
	nodeID  string
	addr    string
	mgr     *manager.Manager
	rts     nodeRuntimes
	socket  string
	httpSrv *http.Server
	// dockerSrv serves the Docker Engine API on dockerSock.
	dockerSrv  *http.Server
	dockerSock string
	// metrics are the manager's; metricsSrv serves them on metricsAddr.
	metrics     *metrics.Manager
	metricsSrv  *http.Server
	metricsAddr string
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	log         *slog.Logger
	ingress     *nodeIngress
	mesh        *portmesh.Mesh
	// net is the node's overlay networking; nil when off.
	net *netagent.Agent

	// tokens are the join tokens (tokens.go).
	tokens joinTokens
	// issuer admits nodes by the current join tokens and signs their
	// certificates;
	// self is this manager's certificate, shown on the agent port.
	issuer *ca.Issuer
	// ca is the cluster CA as this manager has it (carotate.go).
	ca   cas
	self *ca.SelfCert
	// agentAddr is where agents are served, empty when they are not.
	agentAddr string
	agentLink *agentlink.Server
	agentSrv  *http.Server
	// clusterLn is the cluster port's listener (the agent port), stream
	// Raft's side of it, port the connections' demultiplexer; nil for a
	// manager without one (no other manager can join it).
	clusterLn net.Listener
	stream    *cluster.TLSStream
	port      *cluster.Port
	// api serves the API (the leader's, for writes forwarded to it).
	api      http.Handler
	peerOnce sync.Once
	peers    *http.Transport
	link     *managerLink
	// agentConns bounds the agent port's connections.
	agentConns connlimit.Limiter
	// leave is the node's own agent, for `swarm leave` (leave.go).
	leave nodeLeave
	// lock is the autolock state (autolock.go).
	lock autolock
	// dash is the web dashboard (ui.go).
	dash dashboard
	// remote is the API on TCP (remote.go).
	remote remoteAPI
}

// StartDev starts a one-node cluster and returns once its API answers and
// its node is registered.
func StartDev(ctx context.Context, cfg DevConfig) (*Dev, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	raiseFileLimit(log)
	dir, err := datadir.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d := &Dev{dir: dir, log: log, leave: newNodeLeave()}
	ok := false
	defer func() {
		if !ok {
			d.closeParts()
		}
	}()
	// join-token is written once the manager has opened its Raft state
	// (older shoals wrote it just before): a folder that has one held a
	// cluster, and a missing Raft log there is damage, not a reason to
	// start a new, empty cluster whose agent would stop every task it no
	// longer knows. node-id is no such mark: it is written before Raft
	// starts, and a first start may fail in between.
	tokenPath := dir.Join("join-token")
	_, statErr := os.Stat(tokenPath)
	existing := statErr == nil
	// A new node ID would not be in the cluster's Raft configuration:
	// the manager would never lead.
	idPath := dir.Join("node-id")
	if _, err := os.Stat(idPath); existing && errors.Is(err, os.ErrNotExist) {
		return nil, &cluster.DamagedError{File: idPath, Problem: "is missing, but the data folder held a cluster"}
	}
	// A locked key waits for its unlock key here, before any port opens.
	secretKey, err := d.openSecretKey(ctx, cfg.Socket)
	if err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1"
	}
	d.addr = addr
	if cfg.AgentListen != "" {
		if d.clusterLn, err = net.Listen("tcp", cfg.AgentListen); err != nil {
			return nil, fmt.Errorf("listen for agents and managers on %s: %w", cfg.AgentListen, err)
		}
		d.agentAddr = clusterAddr(d.clusterLn, addr)
		d.stream = cluster.NewTLSStream(d.clusterLn.Addr(), func() (*tls.Config, error) {
			if d.self == nil {
				return nil, errors.New("raft: this manager has no certificate yet")
			}
			id, _ := d.self.Identity()
			return cluster.RaftClientConfig(id), nil
		})
	}
	var joined *managerJoinAnswer
	mcfg := manager.Config{RaftDir: dir.Join("raft"), Existing: existing, Logger: log, HeartbeatPeriod: cfg.HeartbeatPeriod, SecretKey: secretKey}
	if cfg.Join != "" && !existing {
		if d.stream == nil {
			return nil, errors.New("joining managers need a cluster port: pass --listen-agents (shoal dev) or --addr HOST:PORT (shoal manager)")
		}
		jctx, cancel := context.WithTimeout(ctx, joinTimeout)
		if cfg.JoinIdentity != nil {
			joined, err = joinPromoted(jctx, cfg.Join, cfg.JoinIdentity)
		} else {
			joined, err = joinManager(jctx, cfg.Join, cfg.JoinToken)
		}
		cancel()
		if err != nil {
			return nil, err
		}
		if err := writePrivate(idPath, []byte(joined.NodeID+"\n")); err != nil {
			return nil, err
		}
		if mcfg.SecretKey, err = secretkey.New(joined.SecretKey); err != nil {
			return nil, err
		}
		mcfg.Join = true
	}
	if d.nodeID, err = dir.NodeID(); err != nil {
		return nil, err
	}
	mcfg.NodeID = d.nodeID
	// Raft's short timeouts (200ms): a lost leader is replaced in about
	// a second (see docs/architecture.md, "Several managers").
	mcfg.FastRaft = true
	if d.stream != nil {
		mcfg.Transport = cluster.NewTLSTransport(d.stream, log.With("component", "raft"))
	}
	d.metrics = metrics.NewManager()
	mcfg.ObservePass, mcfg.ObserveRaft = d.metrics.ObservePass, d.metrics.ObserveRaft
	mcfg.ObserveHeartbeat, mcfg.ObserveTaskStart = d.metrics.ObserveHeartbeat, d.metrics.ObserveTaskStart
	d.mgr, err = manager.Start(mcfg)
	if err != nil {
		return nil, err
	}
	if d.stream != nil {
		d.stream.SetPeerCheck(d.raftPeer)
	}
	d.metrics.AddCluster(d.mgr.Store(), d.mgr.Raft(), d.nodeID)
	if joined != nil {
		if err := d.saveJoined(joined); err != nil {
			return nil, err
		}
		if cfg.JoinIdentity != nil {
			if err := dropWorkerIdentity(dir.Path); err != nil {
				return nil, err
			}
		}
	}
	if err := d.initCA(tokenPath, cfg.CertExpiry); err != nil {
		return nil, err
	}
	srv := server.New(d.mgr, d.nodeID, log.With("component", "api"))
	if cfg.IngressAddr != "" {
		srv.IngressRoutes = d.ingressRoutes
	}
	d.api = srv
	if d.clusterLn != nil {
		if err := d.serveAgents(cfg.AgentMaxConns, log.With("component", "agentlink")); err != nil {
			return nil, err
		}
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	if joined != nil {
		// A non-voter until this manager has started (promoteSelf): one
		// that fails on the way is no dead voter the others count on.
		if err := d.addSelf(waitCtx, cfg.Join, true); err != nil {
			return nil, err
		}
	}
	if err := d.waitCluster(waitCtx); err != nil {
		return nil, err
	}
	if d.mgr.IsLeader() {
		if err := d.initAddrPool(waitCtx, cfg); err != nil {
			return nil, err
		}
	}
	if d.rts, err = openRuntimes(ctx, dir, d.nodeID, addr, cfg.DockerAddr, cfg.SecretsDir, cfg.Docker, log); err != nil {
		return nil, err
	}
	// The agent registers anew on every start; waitNode waits for that.
	registeredAfter := d.mgr.Store().Index()
	runCtx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	// The ingress serves once it has this node's registration.
	gate := newRegisteredGate(d.nodeID)
	if cfg.IngressAddr != "" {
		if err := d.startIngress(cfg, gate.ready, log.With("component", "ingress")); err != nil {
			return nil, err
		}
		d.reserve(d.ingress.addr)
		d.reserve(d.ingress.tlsAddr)
	}
	if cfg.Publish.Addr != "" {
		if d.mesh, err = startMesh(cfg.Publish, log.With("component", "mesh")); err != nil {
			return nil, err
		}
	}
	d.driveRotation(runCtx)
	var networks agent.Networker
	// Networking comes with the docker runtime: a node started with
	// --docker=false (the tests' many dev clusters) leaves the kernel
	// alone, so that one node's Prune never meets another's plumbing, and
	// its tasks on their runtime's own networking, as before.
	var netOff string
	if cfg.Docker {
		if d.net, netOff = openNetworking(addr, false, log.With("component", "network")); d.net != nil {
			networks = d.net
			d.wg.Add(1)
			go func() {
				defer d.wg.Done()
				followNetworkView(runCtx, d.mgr.Store(), d.net, log.With("component", "network"))
			}()
		}
	}
	d.link = &managerLink{d: d}
	ag := agent.New(agent.Config{
		NodeID:      d.nodeID,
		Addr:        addr,
		Role:        api.RoleManager,
		Runtimes:    d.rts.list(),
		Manager:     d.link,
		Logger:      log.With("component", "agent"),
		DrainDelay:  cfg.DrainDelay,
		Networks:    networks,
		NetworksOff: netOff,

		UnreachableGrace: cfg.UnreachableGrace,
		Hostname:         cfg.Hostname,
		EngineLabels:     cfg.Labels,

		// `node ls` shows it as ENGINE VERSION.
		EngineVersion: server.Version,
	})
	gate.session = ag.Session()
	agentCtx, agentCancel := context.WithCancel(runCtx)
	d.leave.ag, d.leave.cancel = ag, agentCancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(d.leave.done)
		if err := ag.Run(agentCtx); err != nil {
			log.Error("agent stopped", "err", err)
		}
	}()

	ln, err := listenPrivate(d.socket, "socket")
	if err != nil {
		return nil, err
	}
	srv.DataDir = dir.Path
	srv.Logs = d
	srv.Swarm, srv.RotateJoinToken, srv.RotateCA = d.swarmInfo, d.rotateJoinToken, d.rotateCA
	srv.SetAutolock, srv.UnlockKey = d.setAutolock, d.unlockKey
	srv.IssueOperator = d.issueOperator
	// Out of file descriptors, Serve logs the accept error and retries
	// (5ms doubling to 1s): the API comes back as soon as one is free. The
	// ingress's connection limit keeps a reserve of them (fdlimit.go).
	apiH := d.withUILogin(d.apiHandler(d.withMetrics(srv)))
	d.httpSrv = &http.Server{Handler: apiH, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.With("component", "api").Handler(), slog.LevelWarn)}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("api server stopped", "err", err)
		}
	}()
	if cfg.MetricsAddr != "" {
		if err := d.serveMetrics(cfg.MetricsAddr, cfg.MetricsToken, log.With("component", "metrics")); err != nil {
			return nil, err
		}
	}
	if err := d.serveUI(runCtx, cfg.UIAddr, log.With("component", "ui")); err != nil {
		return nil, err
	}
	hosts := apiHosts(cfg.APIAddr, addr, cfg.APIHosts)
	if cfg.APIAddr != "" {
		if err := d.serveRemoteAPI(cfg.APIAddr, hosts, apiH, log.With("component", "api-tcp")); err != nil {
			return nil, err
		}
	}
	if cfg.DockerAPISocket != DockerAPIOff {
		path := cfg.DockerAPISocket
		if path == "" {
			path = dir.Join("docker.sock")
		}
		if err := d.serveDockerAPI(path, hosts, log.With("component", "dockerapi")); err != nil {
			return nil, err
		}
	}
	if err := d.waitNode(waitCtx, registeredAfter); err != nil {
		return nil, err
	}
	// Fed once the agent registered, whose write marked the previous
	// agent's endpoints unconfirmed: the mesh and the ingress never
	// dial them.
	d.followCluster(runCtx, gate)
	if err := d.checkCertExpiry(cfg.CertExpiry); err != nil {
		return nil, err
	}
	if err := d.promoteSelf(waitCtx, cfg.Join); err != nil {
		return nil, err
	}
	if err := d.startAutolock(waitCtx, runCtx, cfg.Autolock, !existing && joined == nil); err != nil {
		return nil, err
	}
	// This node's registration is applied here, so is every rotation of
	// the join tokens before it: joins may be admitted now.
	d.tokens.ready.Store(true)
	ok = true
	return d, nil
}

// waitCluster waits until this manager can serve: until a leader is
// known, and when it is this manager, until its controllers run.
func (d *Dev) waitCluster(ctx context.Context) error {
	if d.stream == nil {
		return d.mgr.WaitLeader(ctx)
	}
	if _, err := d.mgr.Raft().WaitLeaderAddr(ctx); err != nil {
		return err
	}
	if !d.mgr.IsLeader() {
		return nil
	}
	if err := d.mgr.WaitLeader(ctx); err != nil {
		return err
	}
	members, err := d.mgr.Raft().Members()
	if err != nil {
		return err
	}
	return d.advertiseSelf(members)
}

// advertiseSelf puts this leader's cluster port in the Raft
// configuration when it holds another address: a folder of a manager
// that had no port (the label "local") or listened elsewhere.
func (d *Dev) advertiseSelf(members []cluster.Member) error {
	if d.stream == nil {
		return nil
	}
	for _, m := range members {
		if m.ID == d.nodeID && m.Addr != d.agentAddr {
			d.log.Info("raft address of this manager changes", "from", m.Addr, "to", d.agentAddr)
			return d.mgr.Raft().AddVoter(d.nodeID, d.agentAddr)
		}
	}
	return nil
}

// waitNode waits until the agent registered its node after index after.
func (d *Dev) waitNode(ctx context.Context, after uint64) error {
	tx, sub := d.mgr.Store().Subscribe()
	defer sub.Close()
	if n := tx.Node(d.nodeID); n != nil && n.Status.State == api.NodeStateReady && n.Version > after {
		return nil
	}
	for {
		evs, err := sub.Next(ctx)
		if err != nil {
			return fmt.Errorf("wait for the node to register: %w", err)
		}
		for _, ev := range evs {
			if ev.Type == api.EventNode && ev.ID == d.nodeID && ev.Node.Status.State == api.NodeStateReady {
				return nil
			}
		}
	}
}

// Socket is the API's unix socket path.
func (d *Dev) Socket() string { return d.socket }

// Host is the API address for clients: unix://SOCKET.
func (d *Dev) Host() string { return "unix://" + d.socket }

// NodeID is the node's ID.
func (d *Dev) NodeID() string { return d.nodeID }

// Manager is the cluster's manager.
func (d *Dev) Manager() *manager.Manager { return d.mgr }

// DataDir is the data folder's path.
func (d *Dev) DataDir() string { return d.dir.Path }

// Addr is the node's address.
func (d *Dev) Addr() string { return d.addr }

// Mesh is the routing mesh, nil without one.
func (d *Dev) Mesh() *portmesh.Mesh { return d.mesh }

// AgentAddr is where agents of other nodes reach the manager (the node's
// address when it listens on every address), empty when it does not
// serve them.
func (d *Dev) AgentAddr() string { return d.agentAddr }

// agentIdleTimeout closes an agent-port connection idle this long. An
// agent's client drops its idle connections after 90s and heartbeats
// every few seconds, so a live agent's connection never idles this long.
var agentIdleTimeout = 2 * time.Minute

// anonMaxPerSource bounds, on the cluster port, the unfinished
// handshakes of one source and its connections that showed no
// certificate (a quarter of the places when that is less).
const anonMaxPerSource = 64

// agentBodyTimeout bounds the wait for a request's body on the agent
// port. The server has no ReadTimeout (it would end the long-polls), and
// net/http reads what is left of a body, up to 256 KiB, before it
// answers or reuses the connection: without a deadline, a client without
// a token could hold a connection forever by declaring a body and never
// sending it.
var agentBodyTimeout = 30 * time.Second

// bodyDeadline sets the read deadline of requests that have a body, so
// that reading it ends by timeout.
func bodyDeadline(h http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // a length, or -1: chunked
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
		}
		h.ServeHTTP(w, r)
	})
}

// serveAgents serves agents of other nodes on addr.
func (d *Dev) serveAgents(maxConns int, log *slog.Logger) error {
	if maxConns < 0 {
		return fmt.Errorf("negative agent-port connection limit %d", maxConns)
	}
	ln := d.clusterLn
	d.reserve(ln.Addr().String())
	d.agentLink = agentlink.NewServer(agentlink.ServerConfig{Dispatcher: d.mgr.Dispatcher(), Store: d.mgr.Store(), Issuer: d.issuer, Logger: log,
		Managers: d.managerAddrs, Seen: d.sawNode})
	// Connecting takes no token, so connections are bounded in number
	// and in idle time, a head must come within ReadHeaderTimeout and a
	// body within agentBodyTimeout; no ReadTimeout or WriteTimeout: the
	// long-polls and the routes stream last as long as the agent (the
	// routes stream has its own write deadline).
	d.agentConns.Max, d.agentConns.Log, d.agentConns.Name = maxConns, log, "agent port"
	if d.agentConns.Max == 0 {
		d.agentConns.Max = defaultAgentMaxConns(openFileLimit())
	}
	// TLS 1.3; a client certificate is verified when given, and required
	// by every request but a join (agentlink.Server checks). The TLS
	// handshake is bounded by ReadHeaderTimeout. HTTP/1.1 only, so a
	// connection is one agent call at a time, as the limits assume.
	// The port completes each TLS handshake (bounded by handshakeTimeout)
	// and hands Raft's connections (ALPN shoal-raft/1, manager
	// certificates only) to Raft, the rest to this server.
	// Unfinished handshakes get at most a quarter of the places (all of
	// them under a small limit, where closing the oldest would cut off
	// handshakes under way); from one address, enough for the agents of
	// a machine reconnecting at once after a manager restart. So do the
	// connections of one source that showed no certificate: they may
	// hold their places as long as they keep asking (a refused request
	// within each idle timeout), and joins are one short connection each.
	hs := &connlimit.Handshakes{MaxPerIP: anonMaxPerSource, Log: log, Name: "cluster port"}
	anon := &connlimit.Sources{Max: anonMaxPerSource, Log: log, Name: "cluster port, without a certificate"}
	if m := d.agentConns.Max; m > 0 {
		hs.Max = m
		if m/4 >= 8 {
			hs.Max = min(connlimit.DefaultMaxHandshakes, m/4)
			anon.Max = min(anonMaxPerSource, m/4)
		}
	}
	d.port = cluster.NewPort(d.agentConns.Listener(ln), cluster.PortConfig(d.self.ServerConfig(false), func() *ca.RootCA { return d.issuer.CA().Trust }),
		d.stream, cluster.PortLimits{Handshakes: hs, Anonymous: anon}, log)
	d.agentSrv = &http.Server{Handler: bodyDeadline(d.clusterHandler(d.agentLink), agentBodyTimeout), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: agentIdleTimeout,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.agentSrv.Serve(d.port.HTTP()); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("agent server stopped", "err", err)
		}
	}()
	return nil
}

// reserve tells the dispatcher that the manager listens on addr: no task
// endpoint may point there, or every ingress would send the world to it.
func (d *Dev) reserve(addr string) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		d.mgr.Dispatcher().Reserve(ap)
	}
}

// Close stops the cluster. Running tasks are left running: the next
// `shoal dev` on this data folder adopts them.
func (d *Dev) Close() error {
	if d.agentSrv != nil {
		d.agentLink.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.agentSrv.Shutdown(ctx)
		cancel()
	}
	for _, srv := range []*http.Server{d.dash.srv, d.metricsSrv, d.dockerSrv, d.remote.srv, d.httpSrv} {
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
		}
	}
	return d.closeParts()
}

func (d *Dev) closeParts() error {
	if d.ingress != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = d.ingress.stop(ctx)
		cancel()
	}
	if d.cancel != nil {
		d.cancel()
	}
	if d.mesh != nil {
		d.mesh.Close()
	}
	if d.agentSrv != nil {
		d.agentLink.Close()
		d.agentSrv.Close()
	}
	if d.port != nil {
		d.port.Close()
	} else if d.clusterLn != nil {
		d.clusterLn.Close()
	}
	for _, srv := range []*http.Server{d.dash.srv, d.metricsSrv, d.dockerSrv, d.remote.srv, d.httpSrv} {
		if srv != nil {
			srv.Close()
		}
	}
	d.wg.Wait()
	if d.link != nil {
		d.link.close()
	}
	if d.peers != nil {
		d.peers.CloseIdleConnections()
	}
	errs := d.rts.close()
	if d.net != nil {
		errs = append(errs, d.net.Close())
	}
	if d.mgr != nil {
		errs = append(errs, d.mgr.Close())
	}
	if d.leave.hasLeft() {
		errs = append(errs, wipeClusterFiles(d.dir))
	}
	errs = append(errs, d.dir.Close())
	return errors.Join(errs...)
}

// localManager lets an in-process agent reach the dispatcher.
type localManager struct{ d *dispatcher.Dispatcher }

func (l localManager) Register(ctx context.Context, reg api.NodeRegistration) (agent.Session, error) {
	s, err := l.d.Register(ctx, reg)
	if err != nil {
		return nil, err
	}
	return s, nil
}
