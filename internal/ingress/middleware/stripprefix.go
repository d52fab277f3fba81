package middleware

import (
	"net/http"
	"strings"
)

// stripprefix: prefixes (a list); the first that starts the path is
// removed and sent in X-Forwarded-Prefix.
func newStripPrefix(o *options) Middleware {
	prefixes := o.list("prefixes")
	if len(prefixes) == 0 {
		o.fail("prefixes", "required")
	}
	if _, ok := o.get("forceSlash"); ok {
		o.fail("forceSlash", "removed in Traefik v3 (a stripped path always starts with /)")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, p := range prefixes {
				if strings.HasPrefix(r.URL.Path, p) {
					stripFromPath(r, p)
					r.Header.Add(ForwardedPrefixHeader, p)
					break
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
