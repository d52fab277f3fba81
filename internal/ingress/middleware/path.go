package middleware

import (
	"net/http"
	"net/url"
	"strings"
)

// Headers the path middlewares set for the backend.
const (
	// ForwardedPrefixHeader carries the prefix stripprefix and
	// stripprefixregex removed.
	ForwardedPrefixHeader = "X-Forwarded-Prefix"
	// ReplacedPathHeader carries the path replacepath and
	// replacepathregex replaced.
	ReplacedPathHeader = "X-Replaced-Path"
)

// ensureLeadingSlash is Traefik's: an empty path stays empty (the request
// line then says "/").
func ensureLeadingSlash(s string) string {
	if s == "" || s[0] == '/' {
		return s
	}
	return "/" + s
}

// escapedPath is the request's path as sent: RawPath when set.
func escapedPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	return u.EscapedPath()
}

// setRawPath makes raw (an escaped path) the request's path, as Traefik's
// replacepath does; false when raw has a malformed escape.
func setRawPath(r *http.Request, raw string) bool {
	p, err := url.PathUnescape(raw)
	if err != nil {
		return false
	}
	r.URL.Path, r.URL.RawPath = p, ""
	if r.URL.EscapedPath() != raw {
		r.URL.RawPath = raw // kept only when a valid escaping of p
	}
	r.RequestURI = r.URL.RequestURI()
	return true
}

// stripFromPath removes prefix (decoded) from the start of the request's
// path, and the matching escaped prefix from RawPath when it has one.
func stripFromPath(r *http.Request, prefix string) {
	r.URL.Path = ensureLeadingSlash(strings.TrimPrefix(r.URL.Path, prefix))
	if r.URL.RawPath != "" {
		ep := (&url.URL{Path: prefix}).EscapedPath()
		if rest, ok := strings.CutPrefix(r.URL.RawPath, ep); ok {
			r.URL.RawPath = ensureLeadingSlash(rest)
		} else {
			r.URL.RawPath = ""
		}
		if r.URL.EscapedPath() != r.URL.RawPath {
			r.URL.RawPath = ""
		}
	}
	r.RequestURI = r.URL.RequestURI()
}

func badPath(w http.ResponseWriter) {
	http.Error(w, "500 Internal Server Error: the rewritten path has a malformed escape", http.StatusInternalServerError)
}
