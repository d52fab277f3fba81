package rules

import (
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Request is what a rule is matched against: the parts of an HTTP request
// the matchers read. *http.Request is one (through Rule.Match); the
// ingress's own HTTP/1.1 parser provides another without building an
// http.Request. Every method must be cheap and must not allocate.
type Request interface {
	// Method is the request method, "GET".
	Method() string
	// Host is the Host header (http.Request.Host), or the URL's host when
	// it is empty.
	Host() string
	// URLPath, URLRawPath and EscapedPath are url.URL's Path, RawPath and
	// EscapedPath() of the request target.
	URLPath() string
	URLRawPath() string
	EscapedPath() string
	// RawQuery is the query of the request target, without the "?".
	RawQuery() string
	// HeaderValue returns the i-th value (from 0) of the header whose
	// canonical key is key, as http.Header[key][i].
	HeaderValue(key string, i int) (string, bool)
	// RemoteAddr is the peer's address, "IP:port".
	RemoteAddr() string
}

// httpRequest adapts *http.Request to Request; it is pointer-shaped, so
// converting it to the interface does not allocate.
type httpRequest struct{ r *http.Request }

func (h httpRequest) Method() string { return h.r.Method }

func (h httpRequest) Host() string {
	if h.r.Host == "" && h.r.URL != nil {
		return h.r.URL.Host
	}
	return h.r.Host
}

func (h httpRequest) URLPath() string {
	if h.r.URL == nil {
		return ""
	}
	return h.r.URL.Path
}

func (h httpRequest) URLRawPath() string {
	if h.r.URL == nil {
		return ""
	}
	return h.r.URL.RawPath
}

func (h httpRequest) EscapedPath() string {
	if h.r.URL == nil {
		return ""
	}
	return h.r.URL.EscapedPath()
}

func (h httpRequest) RawQuery() string {
	if h.r.URL == nil {
		return ""
	}
	return h.r.URL.RawQuery
}

func (h httpRequest) HeaderValue(key string, i int) (string, bool) {
	vs := h.r.Header[key]
	if i < len(vs) {
		return vs[i], true
	}
	return "", false
}

func (h httpRequest) RemoteAddr() string { return h.r.RemoteAddr }

// node is one element of a compiled rule: an operator or a matcher.
type node interface {
	match(r Request) bool
}

type andNode struct{ l, r node }

func (n andNode) match(r Request) bool { return n.l.match(r) && n.r.match(r) }

type orNode struct{ l, r node }

func (n orNode) match(r Request) bool { return n.l.match(r) || n.r.match(r) }

type notNode struct{ x node }

func (n notNode) match(r Request) bool { return !n.x.match(r) }

// requestHost returns the request's host without its port, without a
// trailing dot and without the brackets of an IPv6 literal. It does not
// allocate.
func requestHost(r Request) string { return HostName(r.Host()) }

// HostName is a Host header's name: without its port, a trailing dot
// and the brackets of an IPv6 literal. It does not allocate.
func HostName(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.IndexByte(h, ':'); i >= 0 && strings.IndexByte(h[i+1:], ':') < 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// hostMatcher matches the request host case-insensitively, ignoring the
// port and a trailing dot.
type hostMatcher struct{ host string }

func (m hostMatcher) match(r Request) bool {
	return strings.EqualFold(requestHost(r), m.host)
}

// hostRegexpMatcher matches the lower-cased request host without its port.
type hostRegexpMatcher struct{ re *regexp.Regexp }

func (m hostRegexpMatcher) match(r Request) bool {
	return m.re.MatchString(strings.ToLower(requestHost(r)))
}

// routingPath is the path rules match against: as Traefik, the escaped
// path with percent-encoded unreserved characters decoded, so
// PathPrefix(`/a b`) matches /a%20b but an encoded slash (%2F) stays
// encoded and never matches a literal /. For the usual request, whose path
// needs no such care, it is URL.Path itself and costs nothing.
func routingPath(r Request) string {
	if r.URLRawPath() == "" {
		return r.URLPath()
	}
	escaped := r.EscapedPath()
	var b strings.Builder
	b.Grow(len(escaped))
	for i := 0; i < len(escaped); i++ {
		c := escaped[i]
		if c != '%' || i+2 >= len(escaped) {
			b.WriteByte(c)
			continue
		}
		enc := escaped[i : i+3]
		if isReservedEscape(enc) {
			b.WriteString(strings.ToUpper(enc))
		} else if dec, err := url.PathUnescape(enc); err == nil {
			b.WriteString(dec)
		} else {
			b.WriteString(enc)
		}
		i += 2
	}
	return b.String()
}

// isReservedEscape reports whether %XX encodes an RFC 3986 reserved
// character (or %), which routing keeps encoded.
func isReservedEscape(enc string) bool {
	switch strings.ToUpper(enc) {
	case "%3A", "%2F", "%3F", "%23", "%5B", "%5D", "%40", "%21", "%24",
		"%26", "%27", "%28", "%29", "%2A", "%2B", "%2C", "%3B", "%3D", "%25":
		return true
	}
	return false
}

type pathMatcher struct{ path string }

func (m pathMatcher) match(r Request) bool { return routingPath(r) == m.path }

// pathPrefixMatcher is a plain string prefix on the path, as Traefik's:
// PathPrefix(`/api`) matches /api, /api/x and /apix.
type pathPrefixMatcher struct{ prefix string }

func (m pathPrefixMatcher) match(r Request) bool {
	return strings.HasPrefix(routingPath(r), m.prefix)
}

type pathRegexpMatcher struct{ re *regexp.Regexp }

func (m pathRegexpMatcher) match(r Request) bool { return m.re.MatchString(routingPath(r)) }

type methodMatcher struct{ method string }

func (m methodMatcher) match(r Request) bool { return r.Method() == m.method }

// headerMatcher matches when one of the header's values equals value; an
// empty value matches when the header is present (gorilla/mux semantics,
// which Traefik uses).
type headerMatcher struct{ key, value string }

func (m headerMatcher) match(r Request) bool {
	for i := 0; ; i++ {
		v, ok := r.HeaderValue(m.key, i)
		if !ok {
			return false
		}
		if m.value == "" || v == m.value {
			return true
		}
	}
}

type headerRegexpMatcher struct {
	key string
	re  *regexp.Regexp
}

func (m headerRegexpMatcher) match(r Request) bool {
	for i := 0; ; i++ {
		v, ok := r.HeaderValue(m.key, i)
		if !ok {
			return false
		}
		if m.re.MatchString(v) {
			return true
		}
	}
}

// queryValues calls fn with each value of the query parameter key, in
// order, until fn returns true. It scans the raw query in place and
// allocates only for keys or values that are percent- or plus-encoded.
func queryValues(r Request, key string, fn func(v string) bool) bool {
	q := r.RawQuery()
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue // url.ParseQuery rejects pairs with a semicolon
		}
		k, v, _ := strings.Cut(pair, "=")
		if !unescapedEqual(k, key) {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			dec, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			v = dec
		}
		if fn(v) {
			return true
		}
	}
	return false
}

func unescapedEqual(raw, want string) bool {
	if !strings.ContainsAny(raw, "%+") {
		return raw == want
	}
	dec, err := url.QueryUnescape(raw)
	return err == nil && dec == want
}

// queryMatcher matches when the parameter has the value; Query(`k`) with
// one argument matches a parameter present with an empty value (?k or
// ?k=), as Traefik's.
type queryMatcher struct{ key, value string }

func (m queryMatcher) match(r Request) bool {
	return queryValues(r, m.key, func(v string) bool { return v == m.value })
}

type queryRegexpMatcher struct {
	key string
	re  *regexp.Regexp
}

func (m queryRegexpMatcher) match(r Request) bool {
	return queryValues(r, m.key, m.re.MatchString)
}

// clientIPMatcher matches the address of the peer (RemoteAddr), never a
// forwarded header: an IP is a prefix of full length.
type clientIPMatcher struct{ prefix netip.Prefix }

func (m clientIPMatcher) match(r Request) bool {
	ip, ok := remoteIP(r.RemoteAddr())
	return ok && m.prefix.Contains(ip)
}

func remoteIP(addr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if ip, err := netip.ParseAddr(strings.Trim(addr, "[]")); err == nil {
		return ip.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// Hosts are the host names of the rule's Host matchers, lower-cased,
// outside any negation, as Traefik's ParseDomains finds a router's
// domains (for the TLS options of a server name).
func (r *Rule) Hosts() []string {
	var out []string
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case andNode:
			walk(n.l)
			walk(n.r)
		case orNode:
			walk(n.l)
			walk(n.r)
		case hostMatcher:
			if !slices.Contains(out, n.host) {
				out = append(out, n.host)
			}
		}
	}
	walk(r.root)
	return out
}
