package ingress

import (
	"crypto/tls"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/shoalproject/shoal/api"
)

// parse reads a service's labels. With labels the ingress cannot honour
// (a deploy refuses them, so these come from another client or an older
// version) it fails closed: every router it could read answers 503
// naming the labels (Router.Refused), and the others route nothing.
// Both, and the labels accepted without effect, are logged.
func (t *Table) parse(s *api.Service) *ServiceRoutes {
	routes, err := ParseService(&s.Spec, Env{Secrets: t.opts.Secrets, Others: t.others(s.ID), pool: t.poolNamed})
	if err != nil {
		t.opts.Logger.Error("ingress: service not served: traefik labels the ingress cannot honour; its routers answer 503",
			"service", s.Spec.Name, "err", err)
	}
	if routes == nil || !routes.Exposed(!t.opts.RequireEnable) || len(routes.Routers) == 0 {
		return nil
	}
	// The middlewares are instantiated once per labels (parseChanged), so
	// that their state (rate limits, requests in flight) outlives task
	// changes and spec updates that leave the labels.
	for i := range routes.Routers {
		if r := &routes.Routers[i]; r.Middleware != nil {
			r.handler = r.Middleware(routeTerminal)
		}
	}
	for _, ig := range routes.Ignored {
		t.opts.Logger.Info("ingress: label accepted without effect", "service", s.Spec.Name, "label", ig.Label, "reason", ig.Reason)
	}
	return routes
}

// parseChanged is parse, or prev's routes when s has the name and labels
// they were read from: the routers' middlewares, and so their state
// (rate limits, requests in flight, circuit breakers, digest nonces),
// live as long as the labels, through spec updates that leave them (a
// scale, a new image) and resynchronizations (Reset). Routes that use
// other services' middlewares are parsed again on a Reset (resync), whose
// definers may have changed unseen; between, reparseUsers follows them.
func (t *Table) parseChanged(prev *serviceState, s *api.Service, resync bool) *ServiceRoutes {
	if prev != nil && prev.svc != nil && prev.routes != nil && !(resync && len(prev.routes.foreign) > 0) &&
		prev.svc.Spec.Name == s.Spec.Name && maps.Equal(prev.svc.Spec.Labels, s.Spec.Labels) &&
		slices.EqualFunc(LabelSecrets(&prev.svc.Spec), LabelSecrets(&s.Spec), sameSecret) {
		return prev.routes
	}
	return t.parse(s)
}

// others finds, among the table's services but the one of ID self,
// those whose labels define a middleware (labelshared.go).
func (t *Table) others(self string) Others {
	return func(name string) []*api.ServiceSpec {
		var out []*api.ServiceSpec
		for id, st := range t.services {
			if id != self && st.svc != nil && definesMiddleware(st.svc.Spec.Labels, name) {
				out = append(out, &st.svc.Spec)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
}

// poolNamed is the pool of the Traefik service name, owner's (a shoal
// service) when it has one, else the first other service's, among the
// current routes; nil when none routes to one.
func (t *Table) poolNamed(owner, name string) *pool {
	var other *pool
	for _, r := range t.snap.Load().routes {
		if r.pool == nil || !strings.EqualFold(r.pool.name, name) {
			continue
		}
		if r.service == owner {
			return r.pool
		}
		if other == nil {
			other = r.pool
		}
	}
	return other
}

// reparseUsers parses again the services (but self) whose labels name a
// middleware of names that they do not define: its definition changed.
func (t *Table) reparseUsers(self string, names map[string]bool, dirty map[string]bool) {
	if len(names) == 0 {
		return
	}
	for id, st := range t.services {
		if id == self || st.svc == nil || st.routes == nil {
			continue
		}
		for _, n := range st.routes.foreign {
			if names[n] {
				st.routes = t.parse(st.svc)
				dirty[id] = true
				break
			}
		}
	}
}

// sameSecret reports whether two references name the same secret at the
// same file.
func sameSecret(a, b api.SecretReference) bool {
	return a.SecretID == b.SecretID && a.SecretName == b.SecretName && a.Target() == b.Target()
}

// refusedRoutes is a refused service's routes: no pools, every router
// answering 503.
func (t *Table) refusedRoutes(st *serviceState) (released []*backend) {
	released = dropPools(st.pools)
	st.pools = nil
	st.compiled = st.compiled[:0:0]
	name := st.svc.Spec.Name
	for i := range st.routes.Routers {
		r := &st.routes.Routers[i]
		key := name + "/" + r.Name
		st.compiled = append(st.compiled, &route{
			key: key, service: name, rule: r, entryPoints: r.EntryPoints, stats: t.stats.router(key, name+"/"+r.Service),
			refused: fmt.Sprintf("503 Service Unavailable: router %s of service %s: %s", r.Name, name, r.Refused),
		})
	}
	return released
}

// rebuild recomputes one service's pools and routes; it returns the
// backends that left.
func (t *Table) rebuild(st *serviceState) (released []*backend) {
	if st.svc == nil || st.routes == nil {
		released = dropPools(st.pools)
		st.pools, st.compiled = nil, nil
		return released
	}
	if len(st.routes.Routers) > 0 && st.routes.Routers[0].Refused != "" {
		return t.refusedRoutes(st)
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
		tlsOpt := t.routeTLSOption(r)
		if tlsOpt == nil {
			st.compiled = append(st.compiled, t.unknownTLSOptionsRoute(name, r))
			continue
		}
		if r.Service == InternalAPI {
			rt := t.internalRoute(name, r)
			rt.tlsOpt = tlsOpt
			st.compiled = append(st.compiled, rt)
			continue
		}
		ps := pools[r.Service]
		if ps == nil {
			continue
		}
		key := name + "/" + r.Name
		rt := &route{
			key: key, service: name, rule: r, entryPoints: r.EntryPoints, pool: ps.pool,
			stats: t.stats.router(key, name+"/"+r.Service), tlsOpt: tlsOpt,
		}
		if r.handler != nil {
			rt.handler = r.handler
		}
		st.compiled = append(st.compiled, rt)
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
	b := &backend{
		taskID: taskID, addr: addr, cookie: stickyValue(taskID), transport: t.base.Clone(),
		conns: &connPool{addr: addr, scheme: lb.Scheme, cfg: t.conns},
	}
	if lb.Scheme == "h2c" {
		// Cleartext HTTP/2 with prior knowledge, multiplexed on one
		// connection.
		b.transport.Protocols = new(http.Protocols)
		b.transport.Protocols.SetUnencryptedHTTP2(true)
	}
	if lb.Sticky != nil {
		b.setCookie = "Set-Cookie: " + stickyCookie(lb.Sticky, b).String() + "\r\n"
	}
	if lb.HealthCheck != nil {
		b.checker = newChecker(b, lb.Scheme, service+"/"+lb.Name, *lb.HealthCheck, t.health, t.opts.Logger, &t.checks)
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
	return sameHealthCheck(a.HealthCheck, b.HealthCheck)
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
	t.snap.Store(&snapshot{routes: routes, certs: t.certificates(), sni: t.sniOptions(routes), tls: t.tlsSet})
	t.stats.retain(keepR, keepS)
	for _, b := range released {
		b.release()
	}
}

// certificates are the served services' certificates, by service ID.
func (t *Table) certificates() []*tls.Certificate {
	ids := make([]string, 0, len(t.services))
	for id, st := range t.services {
		if st.routes != nil && st.routes.Certificate != nil && len(st.compiled) > 0 && st.compiled[0].refused == "" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]*tls.Certificate, len(ids))
	for i, id := range ids {
		out[i] = t.services[id].routes.Certificate
	}
	return out
}

// Certificate is the certificate of a service's labels that hello's
// server name (SNI) names, for tls.Config.GetCertificate; nil, and no
// error, when none does (or the client sent no name), so that the entry
// point's own certificates are tried.
func (t *Table) Certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		return nil, nil
	}
	for _, c := range t.snap.Load().certs {
		if hello.SupportsCertificate(c) == nil {
			return c, nil
		}
	}
	return nil, nil
}
