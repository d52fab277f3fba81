package ingress

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
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
	// headers once the request is sent; 0 (default) waits as long as the
	// client does, as Traefik.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes a backend connection idle this long
	// (default 90s).
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
}

func (o *TableOptions) setDefaults() {
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 90 * time.Second
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
	opts       TableOptions
	base       *http.Transport
	healthHTTP *http.Client
	stats      *statsRegistry
	checks     sync.WaitGroup

	snap atomic.Pointer[snapshot]

	mu       sync.Mutex
	services map[string]*serviceState // by service ID
	taskSvc  map[string]string        // task ID → service ID
	closed   bool
}

// snapshot is one immutable routing table.
type snapshot struct {
	// routes are sorted: priority, then rule length, descending, then key.
	routes []*route
}

// route is one router in a snapshot.
type route struct {
	key         string // SHOALSERVICE/ROUTER
	rule        *Router
	entryPoints []string
	pool        *pool
	stats       *routerStats
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
		opts:       opts,
		base:       base,
		healthHTTP: newHealthClient(base),
		stats:      newStatsRegistry(),
		services:   map[string]*serviceState{},
		taskSvc:    map[string]string{},
	}
	t.snap.Store(&snapshot{})
	return t
}

// Reset replaces everything the table knows with services and tasks, as
// after (re)subscribing to the cluster. Backends that stay keep their
// counters, health and connections.
func (t *Table) Reset(services []*api.Service, tasks []*api.Task) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	old := t.services
	t.services = map[string]*serviceState{}
	t.taskSvc = map[string]string{}
	for _, s := range services {
		if s == nil {
			continue
		}
		st := &serviceState{svc: s, tasks: map[string]*api.Task{}}
		if prev := old[s.ID]; prev != nil {
			st.pools = prev.pools // reused by rebuild where unchanged
		}
		st.routes = t.parse(s)
		t.services[s.ID] = st
	}
	for _, tk := range tasks {
		if tk == nil || !taskLive(tk) {
			continue
		}
		st := t.services[tk.ServiceID]
		if st == nil {
			st = &serviceState{tasks: map[string]*api.Task{}}
			if prev := old[tk.ServiceID]; prev != nil {
				st.pools = prev.pools
			}
			t.services[tk.ServiceID] = st
		}
		st.tasks[tk.ID] = tk
		t.taskSvc[tk.ID] = tk.ServiceID
	}
	var released []*backend
	for id, prev := range old {
		if _, ok := t.services[id]; !ok {
			released = append(released, dropPools(prev.pools)...)
		}
	}
	for _, st := range t.services {
		released = append(released, t.rebuild(st)...)
	}
	t.publish(released)
}

// Apply applies events from the cluster's event stream, in order, and
// publishes the result once. Node events and events of unknown types are
// ignored.
func (t *Table) Apply(events ...api.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	dirty := map[string]bool{}
	var released []*backend
	for _, ev := range events {
		switch ev.Type {
		case api.EventService:
			released = append(released, t.applyService(ev, dirty)...)
		case api.EventTask:
			t.applyTask(ev, dirty)
		}
	}
	if len(dirty) == 0 && len(released) == 0 {
		return
	}
	for id := range dirty {
		if st := t.services[id]; st != nil {
			released = append(released, t.rebuild(st)...)
		}
	}
	t.publish(released)
}

func (t *Table) applyService(ev api.Event, dirty map[string]bool) []*backend {
	id := ev.ID
	if ev.Service != nil {
		id = ev.Service.ID
	}
	if ev.Action == api.ActionRemove {
		st := t.services[id]
		if st == nil {
			return nil
		}
		delete(t.services, id)
		delete(dirty, id)
		for tid := range st.tasks {
			delete(t.taskSvc, tid)
		}
		return dropPools(st.pools)
	}
	if ev.Service == nil {
		return nil
	}
	st := t.services[id]
	if st == nil {
		st = &serviceState{tasks: map[string]*api.Task{}}
		t.services[id] = st
	} else if st.svc != nil && ev.Service.Version != 0 && st.svc.Version > ev.Service.Version {
		return nil // stale
	}
	st.svc = ev.Service
	st.routes = t.parse(ev.Service)
	dirty[id] = true
	return nil
}

func (t *Table) applyTask(ev api.Event, dirty map[string]bool) {
	id := ev.ID
	if ev.Task != nil {
		id = ev.Task.ID
	}
	prevSvc, known := t.taskSvc[id]
	var prev *api.Task
	if known {
		if st := t.services[prevSvc]; st != nil {
			prev = st.tasks[id]
		}
	}
	forget := func() {
		if !known {
			return
		}
		delete(t.taskSvc, id)
		if st := t.services[prevSvc]; st != nil {
			delete(st.tasks, id)
			if prev != nil && backendOf(prev) != "" {
				dirty[prevSvc] = true
			}
			if st.svc == nil && len(st.tasks) == 0 {
				delete(t.services, prevSvc)
			}
		}
	}
	if ev.Action == api.ActionRemove || ev.Task == nil {
		forget()
		return
	}
	tk := ev.Task
	if prev != nil && tk.Version != 0 && prev.Version > tk.Version {
		return // stale
	}
	if !taskLive(tk) {
		// Desired shutdown (or ended): out of the pool at once, before
		// the agent stops it; states only move forward, so it never
		// comes back.
		forget()
		return
	}
	if known && prevSvc != tk.ServiceID {
		forget()
		prev = nil
	}
	st := t.services[tk.ServiceID]
	if st == nil {
		st = &serviceState{tasks: map[string]*api.Task{}}
		t.services[tk.ServiceID] = st
	}
	st.tasks[tk.ID] = tk
	t.taskSvc[tk.ID] = tk.ServiceID
	if prev == nil || !sameEndpoints(prev, tk) || backendOf(prev) != backendOf(tk) {
		dirty[tk.ServiceID] = true
	}
}

// taskLive reports whether a task may still become or stay a backend.
func taskLive(t *api.Task) bool {
	return t.DesiredState <= api.TaskStateRunning && !t.Status.State.Terminal()
}

// eligible reports whether a task takes traffic: meant to run, running,
// and healthy if it has a health check.
func eligible(t *api.Task) bool {
	return t.DesiredState == api.TaskStateRunning && t.Status.State == api.TaskStateRunning &&
		(t.Status.Health == "" || t.Status.Health == api.HealthHealthy)
}

// backendOf summarises what of a task matters to routing: "" when it
// takes no traffic, its endpoints otherwise.
func backendOf(t *api.Task) string {
	if !eligible(t) {
		return ""
	}
	var b strings.Builder
	b.WriteString("up")
	for _, e := range t.Endpoints {
		b.WriteString(" ")
		b.WriteString(e.Addr)
	}
	return b.String()
}

func sameEndpoints(a, b *api.Task) bool {
	return slices.Equal(a.Endpoints, b.Endpoints)
}

func endpointFor(t *api.Task, port uint32) string {
	for _, e := range t.Endpoints {
		if e.TargetPort == port && e.Addr != "" && (e.Protocol == "" || strings.EqualFold(e.Protocol, "tcp")) {
			return e.Addr
		}
	}
	return ""
}

// parse reads a service's labels; invalid labels route nothing (a deploy
// validates them first, so this is only a safety net) and are logged.
func (t *Table) parse(s *api.Service) *ServiceRoutes {
	routes, err := ParseLabels(s.Spec.Name, s.Spec.Labels)
	if err != nil {
		t.opts.Logger.Error("ingress: service not routed: invalid traefik labels", "service", s.Spec.Name, "err", err)
		return nil
	}
	if !routes.Exposed(!t.opts.RequireEnable) || len(routes.Routers) == 0 {
		return nil
	}
	return routes
}

// rebuild recomputes one service's pools and routes; it returns the
// backends that left.
func (t *Table) rebuild(st *serviceState) (released []*backend) {
	if st.svc == nil || st.routes == nil {
		released = dropPools(st.pools)
		st.pools, st.compiled = nil, nil
		return released
	}
	name := st.svc.Spec.Name
	pools := make(map[string]*poolState, len(st.routes.Services))
	for i := range st.routes.Services {
		lb := st.routes.Services[i]
		ps := st.pools[lb.Name]
		if ps != nil && !sameLB(&ps.lb, &lb) {
			released = append(released, dropPools(map[string]*poolState{lb.Name: ps})...)
			ps = nil
		}
		if ps == nil {
			ps = &poolState{lb: lb, backends: map[string]*backend{}}
		}
		released = append(released, t.syncBackends(name, ps, st.tasks)...)
		pools[lb.Name] = ps
	}
	for n, ps := range st.pools {
		if _, ok := pools[n]; !ok {
			released = append(released, dropPools(map[string]*poolState{n: ps})...)
		}
	}
	st.pools = pools
	st.compiled = st.compiled[:0:0]
	for i := range st.routes.Routers {
		r := &st.routes.Routers[i]
		ps := pools[r.Service]
		if ps == nil {
			continue
		}
		key := name + "/" + r.Name
		st.compiled = append(st.compiled, &route{
			key: key, rule: r, entryPoints: r.EntryPoints, pool: ps.pool,
			stats: t.stats.router(key),
		})
	}
	return released
}

// syncBackends makes ps's backends the eligible tasks' endpoints, reusing
// existing backends, and publishes a new pool when they changed.
func (t *Table) syncBackends(service string, ps *poolState, tasks map[string]*api.Task) (released []*backend) {
	changed := ps.pool == nil
	want := map[string]string{}
	for id, tk := range tasks {
		if !eligible(tk) {
			continue
		}
		if addr := endpointFor(tk, ps.lb.Port); addr != "" {
			want[id] = addr
		}
	}
	for id, b := range ps.backends {
		if want[id] != b.addr {
			delete(ps.backends, id)
			released = append(released, b)
			changed = true
		}
	}
	for id, addr := range want {
		if _, ok := ps.backends[id]; !ok {
			ps.backends[id] = t.newBackend(service, &ps.lb, id, addr)
			changed = true
		}
	}
	if !changed {
		return released
	}
	p := &pool{
		service: service, name: ps.lb.Name, lb: &ps.lb,
		backends: make([]*backend, 0, len(ps.backends)),
		byCookie: make(map[string]*backend, len(ps.backends)),
		rr:       &ps.rr,
		stats:    t.stats.service(service + "/" + ps.lb.Name),
	}
	for _, b := range ps.backends {
		p.backends = append(p.backends, b)
		p.byCookie[b.cookie] = b
	}
	sort.Slice(p.backends, func(i, j int) bool { return p.backends[i].taskID < p.backends[j].taskID })
	ps.pool = p
	return released
}

func (t *Table) newBackend(service string, lb *LoadBalancer, taskID, addr string) *backend {
	b := &backend{taskID: taskID, addr: addr, cookie: stickyValue(taskID), transport: t.base.Clone()}
	if lb.HealthCheck != nil {
		b.checker = newChecker(b, lb.Scheme, service+"/"+lb.Name, *lb.HealthCheck, t.healthHTTP, t.opts.Logger, &t.checks)
		b.checker.start()
	}
	return b
}

func sameLB(a, b *LoadBalancer) bool {
	if a.Port != b.Port || a.Scheme != b.Scheme || a.PassHostHeader != b.PassHostHeader || a.QualifiedName != b.QualifiedName {
		return false
	}
	if (a.Sticky == nil) != (b.Sticky == nil) || (a.Sticky != nil && *a.Sticky != *b.Sticky) {
		return false
	}
	if (a.HealthCheck == nil) != (b.HealthCheck == nil) || (a.HealthCheck != nil && *a.HealthCheck != *b.HealthCheck) {
		return false
	}
	return true
}

func dropPools(pools map[string]*poolState) (released []*backend) {
	for _, ps := range pools {
		for _, b := range ps.backends {
			released = append(released, b)
		}
	}
	return released
}

// publish swaps in a snapshot of every service's routes, then releases
// the backends that left: after the swap no new request can pick them.
func (t *Table) publish(released []*backend) {
	var routes []*route
	keepR, keepS := map[string]bool{}, map[string]bool{}
	for _, st := range t.services {
		for _, r := range st.compiled {
			routes = append(routes, r)
			keepR[r.key] = true
		}
		if st.svc != nil {
			for n := range st.pools {
				keepS[st.svc.Spec.Name+"/"+n] = true
			}
		}
	}
	sort.Slice(routes, func(i, j int) bool {
		a, b := routes[i], routes[j]
		if a.rule.Priority != b.rule.Priority {
			return a.rule.Priority > b.rule.Priority
		}
		if la, lb := len(a.rule.Rule.String()), len(b.rule.Rule.String()); la != lb {
			return la > lb
		}
		return a.key < b.key
	})
	t.snap.Store(&snapshot{routes: routes})
	t.stats.retain(keepR, keepS)
	for _, b := range released {
		b.release()
	}
}

// Close stops every health check and closes idle backend connections.
// The table keeps routing what it had; later changes are ignored.
func (t *Table) Close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		for _, st := range t.services {
			for _, b := range dropPools(st.pools) {
				b.release()
			}
		}
		t.base.CloseIdleConnections()
	}
	t.mu.Unlock()
	t.checks.Wait()
	if tr, ok := t.healthHTTP.Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
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
	// Backends are the task endpoints taking traffic, "TASKID=ADDR",
	// with " (down)" for one failing its health check.
	Backends []string
}

// Routes lists the current routers in matching order.
func (t *Table) Routes() []RouteInfo {
	s := t.snap.Load()
	out := make([]RouteInfo, 0, len(s.routes))
	for _, r := range s.routes {
		ri := RouteInfo{
			Service: r.pool.service, Router: r.rule.Name, LoadBalancer: r.pool.name,
			Rule: r.rule.Rule.String(), Priority: r.rule.Priority,
		}
		for _, b := range r.pool.backends {
			s := b.taskID + "=" + b.addr
			if !b.healthy() {
				s += " (down)"
			}
			ri.Backends = append(ri.Backends, s)
		}
		out = append(out, ri)
	}
	return out
}
