package middleware

import "net/http"

// replacepathregex: when regex matches the (escaped) path, the path
// becomes its replacement; the old path is sent in X-Replaced-Path.
func newReplacePathRegex(o *options) Middleware {
	re, repl := o.regexReplacement()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cur := escapedPath(r.URL)
			if re.MatchString(cur) {
				r.Header.Add(ReplacedPathHeader, cur)
				if !setRawPath(r, re.ReplaceAllString(cur, repl)) {
					badPath(w)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}
