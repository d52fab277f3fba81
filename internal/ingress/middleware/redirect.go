package middleware

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// The redirect middlewares share Traefik's mechanism: the request's URL
// as the client sent it (rawURL) is rewritten by a regular expression;
// when the result differs the client is redirected there, otherwise the
// request goes on.

// uriRegexp splits an absolute-form request target.
var uriRegexp = regexp.MustCompile(`^(https?):\/\/(\[[\w:.]+\]|[\w\._-]+)?(:\d+)?(.*)$`)

type redirect struct {
	re          *regexp.Regexp
	replacement string
	permanent   bool
	rawURL      func(*http.Request) string
	next        http.Handler
}

func (rd *redirect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	old := rd.rawURL(r)
	if !rd.re.MatchString(old) {
		rd.next.ServeHTTP(w, r)
		return
	}
	target := rd.re.ReplaceAllString(old, rd.replacement)
	if target == old {
		rd.next.ServeHTTP(w, r)
		return
	}
	u, err := url.Parse(target)
	if err != nil {
		http.Error(w, "500 Internal Server Error: the redirect target is not a URL", http.StatusInternalServerError)
		return
	}
	status := http.StatusFound
	if r.Method != http.MethodGet {
		status = http.StatusTemporaryRedirect
	}
	if rd.permanent {
		status = http.StatusMovedPermanently
		if r.Method != http.MethodGet {
			status = http.StatusPermanentRedirect
		}
	}
	w.Header().Set("Location", u.String())
	w.WriteHeader(status)
	_, _ = w.Write([]byte(http.StatusText(status)))
}

func requestURI(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// target splits the request's target: an absolute-form one gives its
// scheme, host and port; otherwise the scheme is http, and the host and
// port are left empty for the caller's defaults.
func target(r *http.Request) (scheme, host, port, uri string) {
	uri = requestURI(r)
	scheme = "http"
	if m := uriRegexp.FindStringSubmatch(uri); m != nil {
		scheme, host, port, uri = m[1], m[2], m[3], m[4]
	}
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme, host, port, uri
}

// rawURL is the URL the client asked for, for redirectregex.
func rawURL(r *http.Request) string {
	scheme, host, port, uri := target(r)
	if host == "" {
		host = r.Host
	}
	return scheme + "://" + host + port + uri
}

// clientURL is rawURL for redirectscheme: the port split from the host,
// X-Forwarded-Proto (kept only from trusted proxies) taken into account,
// and the scheme's default port left out.
func clientURL(r *http.Request) string {
	scheme, host, port, uri := target(r)
	hh, hp, err := net.SplitHostPort(r.Host)
	if err != nil {
		hh, hp = r.Host, ""
	} else {
		hp = ":" + hp
	}
	if host == "" {
		host = hh
	}
	if port == "" {
		port = hp
	}
	switch p := r.Header.Get("X-Forwarded-Proto"); {
	case strings.EqualFold(p, "http"), strings.EqualFold(p, "ws"):
		scheme = "http"
	case strings.EqualFold(p, "https"), strings.EqualFold(p, "wss"):
		scheme = "https"
	}
	if scheme == "http" && port == ":80" || scheme == "https" && port == ":443" {
		port = ""
	}
	if host != "" && strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]" // an IPv6 address split from its port
	}
	return scheme + "://" + host + port + uri
}

// redirectregex: regex, replacement, permanent.
func newRedirectRegex(o *options) Middleware {
	re, repl := o.regexReplacement()
	permanent := o.boolean("permanent")
	return func(next http.Handler) http.Handler {
		return &redirect{re: re, replacement: repl, permanent: permanent, rawURL: rawURL, next: next}
	}
}

// schemePattern is Traefik's redirectscheme expression over clientURL.
var schemePattern = regexp.MustCompile(`^(https?:\/\/)?(\[[\w:.]+\]|[\w\._-]+)?(:\d+)?(.*)$`)

// redirectscheme: scheme (required), port, permanent.
func newRedirectScheme(o *options) Middleware {
	scheme := strings.ToLower(o.str("scheme", ""))
	o.required("scheme", scheme)
	port := o.str("port", "")
	permanent := o.boolean("permanent")
	suffix := ""
	if port != "" && !(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		suffix = ":" + port
	}
	repl := scheme + "://${2}" + suffix + "${4}"
	return func(next http.Handler) http.Handler {
		return &redirect{re: schemePattern, replacement: repl, permanent: permanent, rawURL: clientURL, next: next}
	}
}
