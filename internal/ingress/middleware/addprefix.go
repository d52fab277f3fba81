package middleware

import (
	"net/http"
	"net/url"
)

// addprefix: prefix is put before the path.
func newAddPrefix(o *options) Middleware {
	prefix := o.str("prefix", "")
	o.required("prefix", prefix)
	escaped := (&url.URL{Path: prefix}).EscapedPath()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.URL.Path = ensureLeadingSlash(prefix + r.URL.Path)
			if r.URL.RawPath != "" {
				r.URL.RawPath = ensureLeadingSlash(escaped + r.URL.RawPath)
			}
			r.RequestURI = r.URL.RequestURI()
			next.ServeHTTP(w, r)
		})
	}
}
