package ingress

import (
	"fmt"
	"net/http"
)

// InternalAPI is the Traefik service of a router sent to the node's own
// dashboard. In Traefik, api@internal is the serving Traefik instance's
// dashboard and API; here it is the dashboard of the shoal process the
// ingress runs in: a manager started with --ui serves it in-process,
// behind the dashboard's own login and CSRF checks; a node without one
// answers 503 and says why. docs/ingress.md, "api@internal".
const InternalAPI = "api@internal"

// noDashboard is why a node answers api@internal's routers 503.
const noDashboard = InternalAPI + ": this node serves no dashboard (workers don't, nor managers without --ui); " +
	"send this router's requests to the ingress of a manager started with --ui"

// internalAPI is the handler SetInternalAPI installed.
type internalAPI struct{ h http.Handler }

// SetInternalAPI makes h serve the routers sent to api@internal (nil:
// none, they answer 503). h applies its own access rules: the ingress
// hands it the request as the router's middlewares left it.
func (t *Table) SetInternalAPI(h http.Handler) {
	if h == nil {
		t.internal.Store(nil)
		return
	}
	t.internal.Store(&internalAPI{h: h})
}

// internalRoute is the route of router r of service name sent to
// api@internal: a pool without backends, for its counters.
func (t *Table) internalRoute(name string, r *Router) *route {
	key := name + "/" + r.Name
	pl := &pool{service: name, name: InternalAPI, lb: &LoadBalancer{Name: InternalAPI, QualifiedName: InternalAPI, Scheme: "http"},
		stats: t.stats.service(name + "/" + InternalAPI)}
	return &route{key: key, service: name, rule: r, entryPoints: r.EntryPoints, pool: pl,
		stats: t.stats.router(key, name+"/"+InternalAPI), handler: r.handler, internal: true}
}

// serveInternal serves a request of an api@internal route (forwardRoute
// after the middlewares; the fast path hands these requests over).
func (p *Proxy) serveInternal(w http.ResponseWriter, r *http.Request, rt *route) {
	in := p.table.internal.Load()
	if in == nil {
		http.Error(w, fmt.Sprintf("503 Service Unavailable: router %s of service %s: %s", rt.rule.Name, rt.service, noDashboard),
			http.StatusServiceUnavailable)
		return
	}
	if p.opts.MaxBodyBytes > 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, p.opts.MaxBodyBytes)
	}
	in.h.ServeHTTP(w, r)
}
