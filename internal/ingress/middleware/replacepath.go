package middleware

import (
	"net/http"
	"net/url"
)

// replacepath: path replaces the request's path, which is sent in
// X-Replaced-Path.
func newReplacePath(o *options) Middleware {
	path := o.str("path", "")
	o.required("path", path)
	if _, err := url.PathUnescape(path); err != nil {
		o.fail("path", "%q has a malformed escape", path)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Add(ReplacedPathHeader, escapedPath(r.URL))
			setRawPath(r, path)
			next.ServeHTTP(w, r)
		})
	}
}
