package ingress

import (
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress/middleware"
)

// Middlewares shared across services. In Traefik every middleware a
// Swarm service's labels define is the provider's (NAME@swarm), and a
// router of any service may name it, with or without @swarm; the
// dockerswarm.rocks stacks define https-redirect on the Traefik service
// and use it from the others. Shoal's ingress does the same: a router's
// (or chain's) middleware is its own service's when its labels define
// it, else another service's. Identical definitions by several services
// are one (Traefik merges them); differing ones are refused, as Traefik
// drops them. A router never shares a middleware's state with another
// service's: it gets its own instance, built from the defining labels
// (and that service's secrets, for a usersFile).

// Others finds the services, other than the one whose labels are read,
// that define the middleware named (lower-cased).
type Others func(name string) []*api.ServiceSpec

// OthersOf is Others over specs, leaving out the service named self.
func OthersOf(specs []*api.ServiceSpec, self string) Others {
	return func(name string) []*api.ServiceSpec {
		var out []*api.ServiceSpec
		for _, s := range specs {
			if s.Name != self && definesMiddleware(s.Labels, name) {
				out = append(out, s)
			}
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
}

// definesMiddleware reports whether labels define the middleware name
// (lower-cased).
func definesMiddleware(labels map[string]string, name string) bool {
	prefix := "traefik.http.middlewares." + name + "."
	for k := range labels {
		if len(k) > len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			return true
		}
	}
	return false
}

// DefinesMiddlewares reports whether labels define a middleware.
func DefinesMiddlewares(labels map[string]string) bool { return len(middlewaresDefined(labels)) > 0 }

// middlewaresDefined are the names (lower-cased) of the middlewares
// labels define.
func middlewaresDefined(labels map[string]string) map[string]bool {
	const prefix = "traefik.http.middlewares."
	out := map[string]bool{}
	for k := range labels {
		if len(k) > len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			if name, _, ok := strings.Cut(k[len(prefix):], "."); ok {
				out[strings.ToLower(name)] = true
			}
		}
	}
	return out
}

// middlewareLabelsOf are the labels of labels defining the middleware
// name, keys lower-cased.
func middlewareLabelsOf(labels map[string]string, name string) map[string]string {
	prefix := "traefik.http.middlewares." + name + "."
	out := map[string]string{}
	for k, v := range labels {
		if len(k) > len(prefix) && strings.EqualFold(k[:len(prefix)], prefix) {
			out[strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// maxSharedDepth bounds middlewares found through other services'
// chains that name other services' middlewares.
const maxSharedDepth = 4

// sharedMiddleware builds, for the router or chain at label, the
// middleware name (as written; base is its name without a provider)
// that another service's labels define. With others unknown (nil: the
// labels are checked where the cluster's services are not at hand) it is
// taken to be there; where they are known it must be.
func (p *labelParser) sharedMiddleware(label, name, base string) (mw middleware.Middleware, fast, ok bool) {
	low := strings.ToLower(base)
	p.out.foreign = append(p.out.foreign, low)
	if p.env.Others == nil {
		return func(next http.Handler) http.Handler { return next }, false, true
	}
	defs := p.env.Others(low)
	if len(defs) == 0 {
		p.fail(label, "middleware %q is not defined by traefik.http.middlewares.%s.* labels of this service nor of another service; the ingress does not serve a router whose middlewares it cannot apply", name, base)
		return nil, false, false
	}
	want := middlewareLabelsOf(defs[0].Labels, low)
	for _, d := range defs[1:] {
		if !sameStrings(want, middlewareLabelsOf(d.Labels, low)) {
			p.fail(label, "middleware %q is defined differently by services %s and %s (Traefik drops it too); define it once, or alike", name, defs[0].Name, d.Name)
			return nil, false, false
		}
	}
	if p.depth >= maxSharedDepth {
		p.fail(label, "middleware %q: chains through other services' middlewares go deeper than %d, or loop", name, maxSharedDepth)
		return nil, false, false
	}
	dp := newLabelParser(defs[0], p.env)
	dp.depth = p.depth + 1
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		dp.label(k, want[k])
	}
	m := dp.middlewares[low]
	if m != nil {
		mw = dp.buildMiddleware(m, 0)
	}
	if mw == nil {
		p.fail(label, "middleware %q of service %s cannot be applied: %v", name, defs[0].Name, errors.Join(dp.errs...))
		return nil, false, false
	}
	return mw, m.fast, true
}

func sameStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
