package middleware

import (
	"net/http"
	"sync"
)

// inflightreq: amount (required) requests at once per source
// (sourceCriterion, default the request's host, as Traefik); more are
// answered 429. The map holds only sources with a request in flight.
func newInFlightReq(o *options) Middleware {
	amount := o.integer("amount", 0, 1)
	if _, ok := o.get("amount"); !ok {
		o.fail("amount", "required")
	}
	source := o.sourceCriterion("host")
	return func(next http.Handler) http.Handler {
		var mu sync.Mutex
		inflight := map[string]int64{}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := source(r)
			mu.Lock()
			if inflight[key] >= amount {
				mu.Unlock()
				tooMany(w, "")
				return
			}
			inflight[key]++
			mu.Unlock()
			defer func() {
				mu.Lock()
				if inflight[key]--; inflight[key] == 0 {
					delete(inflight, key)
				}
				mu.Unlock()
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// tooMany answers 429; retryAfter, when set, is whole seconds.
func tooMany(w http.ResponseWriter, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
}
