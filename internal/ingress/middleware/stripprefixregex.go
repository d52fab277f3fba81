package middleware

import (
	"net/http"
	"regexp"
	"strings"
)

// stripprefixregex: regex (a list); the first expression matching at the
// start of the path, its match ending at the end of a segment (see
// stripprefix), has its match removed and sent in X-Forwarded-Prefix.
func newStripPrefixRegex(o *options) Middleware {
	var res []*regexp.Regexp
	for _, s := range o.list("regex") {
		if re := o.regexp("regex", s); re != nil {
			res = append(res, re)
		}
	}
	if len(res) == 0 {
		o.required("regex", "")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, re := range res {
				m := re.FindString(r.URL.Path)
				if m == "" || !strings.HasPrefix(r.URL.Path, m) || !segmentEnd(r.URL.Path, len(m)) {
					continue
				}
				stripFromPath(r, m)
				r.Header.Add(ForwardedPrefixHeader, m)
				break
			}
			next.ServeHTTP(w, r)
		})
	}
}
