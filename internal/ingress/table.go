package ingress

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/api"
)

// TableOptions configure a routing table and the connections to its
// backends. The zero value is usable.
type TableOptions struct {
	// RequireEnable routes only services labelled traefik.enable=true
	// (Traefik's exposedByDefault=false). By default every service with
	// routers is routed unless labelled traefik.enable=false.
	RequireEnable bool
	// DialTimeout bounds connecting to a backend (default 5s: backends
	// are on the cluster network; a longer wait only delays the retry on
	// another task).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a backend's response
	// headers once the request is sent (Traefik's
	// serversTransport.forwardingTimeouts.responseHeaderTimeout): past
	// it the request is answered 504 and the backend is ejected for
	// EjectTime. Default DefaultResponseHeaderTimeout; negative waits as
	// long as the client does (Traefik's default, 0).
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes a backend connection idle this long
	// (default 4s). It is shorter than Traefik's 90s on purpose: it must
	// be shorter than the backends' own keep-alive timeout (5s in Node.js
	// and Apache), so that the proxy, not the backend, closes an idle
	// connection; otherwise a request can be written to a connection the
	// backend is closing, and a non-idempotent one cannot be retried.
	// Under load connections are reused long before; a quiet service pays
	// one connect on the cluster network.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerBackend bounds the idle keep-alive connections kept
	// to each backend (default 200, Traefik's).
	MaxIdleConnsPerBackend int
	// EjectTime keeps a backend a connection to which just failed out of
	// new picks for this long, unless no other is left (default 2s;
	// negative disables).
	EjectTime time.Duration
	// BackendTLS configures connections to https backends (server.scheme
	// =https); nil verifies them against the system roots.
	BackendTLS *tls.Config
	// Logger receives configuration and health-check messages; nil uses
	// slog.Default().
	Logger *slog.Logger
	// Secrets reads the secrets services' labels name (usersFile: see
	// ParseService). Without it such a service is refused (503).
	Secrets SecretReader
	// TLSOptions are the websecure entry point's TLS options
	// (--ingress-tls-options) at the start; SetTLSOptions replaces
	// them. nil leaves ServeTLS's configuration as given, and has only
	// default. A router naming options not among them answers 503.
	TLSOptions *TLSOptionSet
}

// DefaultResponseHeaderTimeout is how long the ingress waits for a
// backend's response headers by default. Traefik waits forever (0), and
// a paused or hung task then holds every request sent to it for as long
// as its clients wait, the clients that never give up for good; 60s is
// nginx's proxy_read_timeout, long for an answer to start, short of a
// stuck connection. A service whose answers start later (long polling
// without early headers) needs the daemon's
// --ingress-response-header-timeout raised.
const DefaultResponseHeaderTimeout = 60 * time.Second

func (o *TableOptions) setDefaults() {
	if o.Secrets == nil {
		o.Secrets = func(api.SecretReference) ([]byte, error) {
			return nil, errors.New("this node's ingress is given no secrets")
		}
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	switch {
	case o.ResponseHeaderTimeout == 0:
		o.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	case o.ResponseHeaderTimeout < 0:
		o.ResponseHeaderTimeout = 0
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 4 * time.Second
	}
	if o.MaxIdleConnsPerBackend <= 0 {
		o.MaxIdleConnsPerBackend = 200
	}
	if o.EjectTime == 0 {
		o.EjectTime = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Table is the ingress routing table: the routers and backends of every
// routed service, built from the cluster's services and tasks and kept
// current from its event stream.
//
// Writers (Reset, Apply) are serialised by a mutex and publish an
// immutable snapshot with one atomic pointer swap; request handling reads
// the current snapshot without locking. A change applies to every request
// that starts after the write returns; requests already sent to a backend
// that left finish normally.
type Table struct {
	opts   TableOptions
	base   *http.Transport
	conns  *connConfig
	health healthClients
	stats  *statsRegistry
	checks sync.WaitGroup

	snap atomic.Pointer[snapshot]
	// internal serves the routers sent to api@internal (SetInternalAPI).
	internal atomic.Pointer[internalAPI]

	mu       sync.Mutex
	services map[string]*serviceState // by service ID
	taskSvc  map[string]string        // task ID → service ID
	// ended holds tasks seen desired-shutdown or ended: task states only
	// move forward, so no later (or late) event makes them live again.
	// A task's remove event clears its entry.
	ended  map[string]struct{}
	closed bool
	// sniConflicts are the host names last logged as having routers
	// with different TLS options.
	sniConflicts string
	// tlsSet are the TLS options the routes are compiled against
	// (TableOptions.TLSOptions, then SetTLSOptions'); the snapshot
	// holds the same set for the handshakes.
	tlsSet *TLSOptionSet
}

// snapshot is one immutable routing table.
type snapshot struct {
	// routes are sorted: priority, then rule length, descending, then key.
	routes []*route
	// certs are the services' certificates (ServiceRoutes.Certificate),
	// by service ID.
	certs []*tls.Certificate
	// sni gives the TLS options of a server name (tlsselect.go), among
	// tls, the options the routes were compiled against: a handshake
	// reads both from one snapshot.
	sni sniOptions
	tls *TLSOptionSet
}

// route is one router in a snapshot.
type route struct {
	key         string // SHOALSERVICE/ROUTER
	service     string // the shoal service
	rule        *Router
	entryPoints []string
	pool        *pool // nil when refused
	stats       *routerStats
	// refused, when set, is the whole 503 answer: the router's labels
	// ask for what the ingress cannot do (Router.Refused), or this
	// node lacks its TLS options (reason).
	refused string
	reason  string
	// handler, when the router has middlewares, applies them and then
	// forwards (routeTerminal); nil forwards directly. Requests of a
	// route with a handler are served by the net/http path.
	handler http.Handler
	// internal: the router sends to api@internal (serveInternal).
	internal bool
	// tlsOpt are the TLS options the router names (default when it
	// names none) in the snapshot's set; nil when refused
	// (routeMisdirected).
	tlsOpt *TLSOption
}

// serviceState is what the table knows of one shoal service.
type serviceState struct {
	svc    *api.Service // nil while only its tasks are known
	routes *ServiceRoutes
	tasks  map[string]*api.Task // live tasks, by ID
	pools  map[string]*poolState
	// compiled are this service's routes in the current snapshot.
	compiled []*route
}

// poolState is the mutable side of a Traefik service: its backends by
// task ID and the immutable pool last published.
type poolState struct {
	lb       LoadBalancer
	backends map[string]*backend
	rr       atomic.Uint64
	pool     *pool
}

// NewTable returns an empty table.
func NewTable(opts TableOptions) *Table {
	opts.setDefaults()
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}
	base := &http.Transport{
		Proxy:                 nil, // never an environment proxy between ingress and tasks
		DialContext:           dialer.DialContext,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   opts.MaxIdleConnsPerBackend,
		IdleConnTimeout:       opts.IdleConnTimeout,
		ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       opts.BackendTLS,
		TLSHandshakeTimeout:   opts.DialTimeout,
		// A proxy passes the body as the backend sent it.
		DisableCompression: true,
	}
	t := &Table{
		opts: opts,
		base: base,
		conns: &connConfig{
			dialer: dialer, idleTimeout: opts.IdleConnTimeout, maxIdle: opts.MaxIdleConnsPerBackend,
			responseHeaderTimeout: opts.ResponseHeaderTimeout, tls: opts.BackendTLS,
		},
		health:   newHealthClients(base),
		stats:    newStatsRegistry(),
		services: map[string]*serviceState{},
		taskSvc:  map[string]string{},
		ended:    map[string]struct{}{},
		tlsSet:   opts.TLSOptions,
	}
	t.snap.Store(&snapshot{tls: opts.TLSOptions})
	return t
}

// Close stops every health check and closes idle backend connections.
// The table keeps routing what it had (with each backend's last health),
// so a proxy still draining can finish; later changes are ignored.
func (t *Table) Close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		for _, st := range t.services {
			for _, b := range dropPools(st.pools) {
				b.quiesce()
			}
		}
		t.base.CloseIdleConnections()
	}
	t.mu.Unlock()
	t.checks.Wait()
	t.health.closeIdle()
}

// Stats returns a snapshot of the request counters.
func (t *Table) Stats() Stats { return t.stats.snapshot() }

// RouteInfo describes one router of the current table.
type RouteInfo struct {
	// Service is the shoal service; Router and LoadBalancer name the
	// Traefik router and service.
	Service, Router, LoadBalancer string
	Rule                          string
	Priority                      int
	// EntryPoints are those the router takes requests on.
	EntryPoints []string
	// Middlewares are applied in this order.
	Middlewares []string
	// Refused, when set, is why the router answers 503.
	Refused string
	// Backends are the task endpoints taking traffic.
	Backends []api.IngressBackend
	// StickyCookie names the cookie that pins a client to a backend,
	// empty when the service is not sticky.
	StickyCookie string
}

// Routes lists the current routers in matching order.
func (t *Table) Routes() []RouteInfo {
	s := t.snap.Load()
	out := make([]RouteInfo, 0, len(s.routes))
	for _, r := range s.routes {
		ri := RouteInfo{
			Service: r.service, Router: r.rule.Name, LoadBalancer: r.rule.Service,
			Rule: r.rule.Rule.String(), Priority: r.rule.Priority,
			Middlewares: r.rule.Middlewares, Refused: r.rule.Refused,
			EntryPoints: routeEntryPoints(r),
		}
		if ri.Refused == "" {
			ri.Refused = r.reason
		}
		if r.internal && t.internal.Load() == nil && ri.Refused == "" {
			ri.Refused = noDashboard // on this node
		}
		if r.pool == nil || r.internal {
			out = append(out, ri)
			continue
		}
		if r.pool.lb != nil && r.pool.lb.Sticky != nil {
			ri.StickyCookie = r.pool.lb.Sticky.Name
		}
		for _, b := range r.pool.backends {
			ri.Backends = append(ri.Backends, api.IngressBackend{TaskID: b.taskID, Addr: b.addr, Healthy: b.healthy()})
		}
		out = append(out, ri)
	}
	return out
}

// routeEntryPoints are the entry points a route takes requests on: its
// TLS-ness picks websecure or web, as Traefik's, narrowed by its
// entrypoints label.
func routeEntryPoints(r *route) []string {
	ep := EntryPointWeb
	if r.rule.TLS {
		ep = EntryPointWebSecure
	}
	if len(r.entryPoints) > 0 && !containsFold(r.entryPoints, ep) {
		return []string{}
	}
	return []string{ep}
}
