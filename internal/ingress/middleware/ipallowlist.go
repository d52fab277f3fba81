package middleware

import "net/http"

// ipallowlist: sourceRange (IPs and CIDR ranges, required), ipStrategy,
// rejectStatusCode (default 403). A request from elsewhere, or whose
// client IP cannot be told, is refused.
func newIPAllowList(o *options) Middleware {
	ranges := o.prefixes("sourceRange")
	if len(ranges) == 0 {
		o.fail("sourceRange", "required")
	}
	strategy := o.ipStrategy("ipStrategy")
	code := int(o.integer("rejectStatusCode", http.StatusForbidden, 100))
	if code > 599 {
		o.fail("rejectStatusCode", "%d is not an HTTP status", code)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !containsIP(ranges, strategy.clientIP(r)) {
				http.Error(w, http.StatusText(code), code)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
