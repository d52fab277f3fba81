package ingress

import (
	"context"
	"net/http"
)

// forwardRoute forwards a routed request to a task of its pool.
func (p *Proxy) forwardRoute(w http.ResponseWriter, r *http.Request, rt *route, st *reqState) {
	if rt.internal {
		p.serveInternal(w, r, rt)
		return
	}
	pl := rt.pool
	if p.unservable(w, r, pl) {
		return
	}
	if p.opts.MaxBodyBytes > 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, p.opts.MaxBodyBytes)
	}
	st.preferred = pl.sticky(r)
	// Deferred: a response cut short by its backend panics with
	// http.ErrAbortHandler (to reset the stream), and the backend's
	// count must drop all the same, or it looks busy for good.
	defer func() {
		if st.chosen != nil {
			st.chosen.inflight.Add(-1)
		}
	}()
	if leanEligible(r, pl) {
		if !p.forwardFast(w, r, st) { // h2fast.go
			p.forwardLean(w, r, st) // h2forward.go
		}
	} else {
		p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	}
}

// unservable answers a request its pool cannot take, on both paths: no
// healthy backend (503), or a body longer than MaxBodyBytes (413).
func (p *Proxy) unservable(w http.ResponseWriter, r *http.Request, pl *pool) bool {
	switch {
	case !pl.anyHealthy():
		pl.stats.noBackend.Add(1)
		p.noBackend(w, pl)
	case p.opts.MaxBodyBytes > 0 && r.ContentLength > p.opts.MaxBodyBytes:
		http.Error(w, "413 request body too large", http.StatusRequestEntityTooLarge)
	default:
		return false
	}
	return true
}

// routeCall carries a request through its router's middlewares to
// routeTerminal.
type routeCall struct {
	p  *Proxy
	rt *route
	st *reqState
	// fc is the fast path's connection when it runs the middlewares
	// (h1middleware.go); the forward's outcome is then kept here.
	fc        *fconn
	forwarded bool
	status    int
	chosen    *backend
	retries   int
	n         int64
}

type routeKey struct{}

// routeTerminal is the last handler of every middleware chain: it
// forwards the request as the middlewares left it.
var routeTerminal http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	call := r.Context().Value(routeKey{}).(*routeCall)
	if call.fc != nil {
		call.fc.forwardFast(w, r, call)
		return
	}
	call.p.forwardRoute(w, r, call.rt, call.st)
})
