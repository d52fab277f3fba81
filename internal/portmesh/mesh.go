package portmesh

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/api"
)

// Options configure a node's routing mesh. The zero value listens on
// every address with no connection limit.
type Options struct {
	// Addr is the IP address the published ports are bound on; empty
	// binds every address, as Swarm does. Nodes that share a host (tests
	// on 127.0.0.x) each bind their own.
	Addr string
	// MaxConns caps the TCP connections and UDP flows forwarded at once,
	// over every port (0: no cap). Each takes two file descriptors.
	MaxConns int
	// DialTimeout bounds connecting to a backend (default 5s) before the
	// next one is tried.
	DialTimeout time.Duration
	// IdleTimeout closes a TCP connection on which neither side sent a
	// byte for this long (default 15m, IPVS's for an established
	// connection, which Swarm's mesh uses; negative: never).
	IdleTimeout time.Duration
	// UDPIdleTimeout ends a UDP flow that saw no datagram either way for
	// this long (default 5m, IPVS's for UDP); the client's next datagram
	// starts a new flow, perhaps to another task.
	UDPIdleTimeout time.Duration
	// Backend is where a task is reached for a published port: "" when
	// it cannot be. Default TaskEndpoint.
	Backend func(t *api.Task, p api.PortConfig) string
	// Logger receives binding failures and refusals; nil uses
	// slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 15 * time.Minute
	}
	if o.UDPIdleTimeout <= 0 {
		o.UDPIdleTimeout = 5 * time.Minute
	}
	if o.Backend == nil {
		o.Backend = TaskEndpoint
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// TaskEndpoint is the address the task's node published the port's
// target on (api.Task.Endpoints), NODEADDR:HOSTPORT, or "".
func TaskEndpoint(t *api.Task, p api.PortConfig) string {
	for _, e := range t.Endpoints {
		if e.TargetPort == p.TargetPort && e.Addr != "" && strings.EqualFold(protoOrTCP(e.Protocol), p.Proto()) {
			return e.Addr
		}
	}
	return ""
}

func protoOrTCP(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// Mesh is one node's routing mesh. Reset and Apply feed it the cluster's
// state; Close stops it.
type Mesh struct {
	opts   Options
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	dialer net.Dialer
	wg     sync.WaitGroup
	limit  connLimit

	mu       sync.Mutex
	services map[string]*api.Service
	tasks    map[string]map[string]*api.Task // live tasks by service and ID
	taskSvc  map[string]string               // task ID → service ID
	// ended are tasks seen desired-shutdown or ended: their states only
	// move forward, so no late event makes them live again.
	ended  map[string]struct{}
	ports  map[portKey]*port
	closed bool

	linksMu sync.Mutex
	links   map[*tcpLink]struct{} // forwarded TCP connections, closed by Close
}

// portKey is a published port and its protocol.
type portKey struct {
	proto string
	port  uint32
}

func (k portKey) String() string { return strconv.Itoa(int(k.port)) + "/" + k.proto }

// New returns a mesh that listens on nothing until it is fed services.
func New(opts Options) *Mesh {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Mesh{
		opts: opts, log: opts.Logger, ctx: ctx, cancel: cancel,
		dialer:   net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second},
		limit:    connLimit{max: int64(opts.MaxConns)},
		services: map[string]*api.Service{},
		tasks:    map[string]map[string]*api.Task{},
		taskSvc:  map[string]string{},
		ended:    map[string]struct{}{},
		ports:    map[portKey]*port{},
		links:    map[*tcpLink]struct{}{},
	}
}

// Reset replaces everything the mesh knows with services and tasks, as
// after (re)subscribing to the cluster.
func (m *Mesh) Reset(services []*api.Service, tasks []*api.Task) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.services = map[string]*api.Service{}
	m.tasks = map[string]map[string]*api.Task{}
	m.taskSvc = map[string]string{}
	m.ended = map[string]struct{}{}
	for _, s := range services {
		if s != nil {
			m.services[s.ID] = s
		}
	}
	for _, t := range tasks {
		if t != nil {
			m.putTask(t)
		}
	}
	m.reconcile(nil)
}

// Apply applies a batch of the cluster's events in order. Node events and
// events of other types are ignored.
func (m *Mesh) Apply(events ...api.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	dirty := map[string]bool{}
	listeners := false
	for _, ev := range events {
		switch ev.Type {
		case api.EventService:
			listeners = true
			if ev.Action == api.ActionRemove || ev.Service == nil {
				delete(m.services, ev.ID)
				continue
			}
			if cur := m.services[ev.Service.ID]; cur != nil && ev.Service.Version != 0 && cur.Version > ev.Service.Version {
				continue // stale
			}
			m.services[ev.Service.ID] = ev.Service
		case api.EventTask:
			id := ev.ID
			if ev.Task != nil {
				id = ev.Task.ID
			}
			if svc, ok := m.taskSvc[id]; ok {
				dirty[svc] = true
			}
			if ev.Action == api.ActionRemove || ev.Task == nil {
				m.dropTask(id)
				delete(m.ended, id)
				continue
			}
			m.putTask(ev.Task)
			dirty[ev.Task.ServiceID] = true
		}
	}
	if listeners || m.unbound() {
		m.reconcile(nil)
		return
	}
	if len(dirty) > 0 {
		m.reconcile(dirty)
	}
}

// putTask records a task, or forgets it once it is to stop or ended.
func (m *Mesh) putTask(t *api.Task) {
	if _, ok := m.ended[t.ID]; ok {
		return
	}
	if svc, ok := m.taskSvc[t.ID]; ok {
		if prev := m.tasks[svc][t.ID]; prev != nil && t.Version != 0 && prev.Version > t.Version {
			return // stale
		}
	}
	if !t.Live() {
		// Desired shutdown: out of the pool now, before the agent
		// stops it.
		m.dropTask(t.ID)
		m.ended[t.ID] = struct{}{}
		return
	}
	m.dropTask(t.ID) // it may have changed service
	if m.tasks[t.ServiceID] == nil {
		m.tasks[t.ServiceID] = map[string]*api.Task{}
	}
	m.tasks[t.ServiceID][t.ID] = t
	m.taskSvc[t.ID] = t.ServiceID
}

func (m *Mesh) dropTask(id string) {
	svc, ok := m.taskSvc[id]
	if !ok {
		return
	}
	delete(m.taskSvc, id)
	delete(m.tasks[svc], id)
	if len(m.tasks[svc]) == 0 {
		delete(m.tasks, svc)
	}
}

// unbound reports whether a wanted port is not listened on yet. m.mu held.
func (m *Mesh) unbound() bool {
	for _, p := range m.ports {
		if !p.bound() {
			return true
		}
	}
	return false
}

// wanted is what a published port forwards to.
type wanted struct {
	service *api.Service
	port    api.PortConfig
}

// reconcile opens and closes listeners for the services' ingress-mode
// ports (all of them when dirty is nil) and rebuilds the pools of the
// ports of dirty services. m.mu held.
func (m *Mesh) reconcile(dirty map[string]bool) {
	if dirty == nil {
		want := m.wantedPorts()
		for k, p := range m.ports {
			if w, ok := want[k]; !ok || w.service.ID != p.serviceID || w.port.TargetPort != p.target.TargetPort {
				p.close()
				delete(m.ports, k)
			}
		}
		for k, w := range want {
			p := m.ports[k]
			if p == nil {
				// Fixed for the port's life: its goroutines read them.
				p = &port{key: k, serviceID: w.service.ID, name: w.service.Spec.Name, target: w.port}
				m.ports[k] = p
			}
			if !p.bound() {
				m.listen(p)
			}
		}
	}
	for _, p := range m.ports {
		if dirty == nil || dirty[p.serviceID] {
			p.setPool(m.poolFor(p))
		}
	}
}

// wantedPorts are the ingress-mode published ports of every service,
// each to one service: should two claim a port (the managers refuse
// that), the older service keeps it.
func (m *Mesh) wantedPorts() map[portKey]wanted {
	svcs := make([]*api.Service, 0, len(m.services))
	for _, s := range m.services {
		if s.Endpoint != nil && len(s.Endpoint.Ports) > 0 {
			svcs = append(svcs, s)
		}
	}
	slices.SortFunc(svcs, func(a, b *api.Service) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	want := map[portKey]wanted{}
	for _, s := range svcs {
		for _, p := range s.Endpoint.Ports {
			if p.Mode() != api.PublishModeIngress || p.PublishedPort == 0 {
				continue
			}
			k := portKey{proto: p.Proto(), port: p.PublishedPort}
			if k.proto != "tcp" && k.proto != "udp" {
				continue
			}
			if prev, ok := want[k]; ok {
				m.log.Warn("published port claimed by two services; the older keeps it", "port", k.String(),
					"service", prev.service.Spec.Name, "other", s.Spec.Name)
				continue
			}
			want[k] = wanted{service: s, port: p}
		}
	}
	return want
}

// poolFor is the port's backends: its service's tasks that take traffic
// and can be reached for its target port. Backends that stay keep their
// connection counts. m.mu held.
func (m *Mesh) poolFor(p *port) *pool {
	prev := map[string]*backend{}
	if old := p.pool.Load(); old != nil {
		for _, b := range old.backends {
			prev[b.taskID+"@"+b.addr] = b
		}
	}
	out := &pool{}
	for _, t := range m.tasks[p.serviceID] {
		if !t.TakesTraffic() {
			continue
		}
		addr := m.opts.Backend(t, p.target)
		if addr == "" {
			continue
		}
		b := prev[t.ID+"@"+addr]
		if b == nil {
			b = &backend{taskID: t.ID, addr: addr}
		}
		out.backends = append(out.backends, b)
	}
	slices.SortFunc(out.backends, func(a, b *backend) int { return strings.Compare(a.taskID, b.taskID) })
	return out
}

// PortInfo describes one published port of the mesh.
type PortInfo struct {
	// Port is "8080/tcp".
	Port string
	// Service is the name of the service it forwards to.
	Service string
	// Listening is false while the port cannot be bound.
	Listening bool
	// Backends are the task endpoints taking new connections,
	// "TASKID=ADDR".
	Backends []string
}

// Ports lists the published ports, sorted.
func (m *Mesh) Ports() []PortInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]PortInfo, 0, len(m.ports))
	for _, p := range m.ports {
		pi := PortInfo{Port: p.key.String(), Service: p.name, Listening: p.bound()}
		if pl := p.pool.Load(); pl != nil {
			for _, b := range pl.backends {
				pi.Backends = append(pi.Backends, b.taskID+"="+b.addr)
			}
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b PortInfo) int { return strings.Compare(a.Port, b.Port) })
	return out
}

// Close closes every listener and every forwarded connection, and waits
// for their goroutines.
func (m *Mesh) Close() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		m.cancel()
		for k, p := range m.ports {
			p.close()
			delete(m.ports, k)
		}
	}
	m.mu.Unlock()
	m.linksMu.Lock()
	for l := range m.links {
		l.abort()
	}
	m.linksMu.Unlock()
	m.wg.Wait()
}

// connLimit counts forwarded connections and flows against a cap.
type connLimit struct {
	max      int64
	n        atomic.Int64
	lastWarn atomic.Int64 // unix nanoseconds of the last refusal logged
}

func (l *connLimit) acquire() bool {
	if l.n.Add(1) > l.max && l.max > 0 {
		l.n.Add(-1)
		return false
	}
	return true
}

func (l *connLimit) release() { l.n.Add(-1) }

// refused logs a refusal, at most every 10 seconds.
func (m *Mesh) refused(k portKey) {
	now := time.Now().UnixNano()
	last := m.limit.lastWarn.Load()
	if now-last < int64(10*time.Second) || !m.limit.lastWarn.CompareAndSwap(last, now) {
		return
	}
	m.log.Warn("routing mesh at its connection limit: refusing new connections", "port", k.String(), "max_conns", m.limit.max)
}
