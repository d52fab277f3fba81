package middleware

import (
	"net/http"
	"strings"
)

// stripprefix: prefixes (a list); the first that starts the path, ending
// at the end of a segment, is removed and sent in X-Forwarded-Prefix.
// Unlike Traefik, /api is not removed from /apiadmin: that would send
// the task /admin, which a router PathPrefix(`/api/admin`) with
// stripprefix /api and an auth middleware means to protect.
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
				if strings.HasPrefix(r.URL.Path, p) && segmentEnd(r.URL.Path, len(p)) {
					stripFromPath(r, p)
					r.Header.Add(ForwardedPrefixHeader, p)
					break
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// segmentEnd reports whether path[:n] ends at the end of a segment.
func segmentEnd(path string, n int) bool {
	return n == len(path) || path[n] == '/' || (n > 0 && path[n-1] == '/')
}
