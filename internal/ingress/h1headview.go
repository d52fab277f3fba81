package ingress

import (
	"strings"
)

// The fast path's request head as rules.Request (what the routers'
// rules read), and its cookies.

func (r *reqHead) Method() string { return r.method }
func (r *reqHead) Host() string   { return r.host }

func (r *reqHead) URLPath() string {
	if r.u != nil {
		return r.u.Path
	}
	return r.path
}

func (r *reqHead) URLRawPath() string {
	if r.u != nil {
		return r.u.RawPath
	}
	// net/url keeps a RawPath when escaping Path would not give the path
	// back: for a plain path, when it holds one of these.
	if strings.ContainsAny(r.path, "!'()*[]") {
		return r.path
	}
	return ""
}

func (r *reqHead) EscapedPath() string {
	if r.u != nil {
		return r.u.EscapedPath()
	}
	return r.path
}

func (r *reqHead) RawQuery() string {
	if r.u != nil {
		return r.u.RawQuery
	}
	return r.query
}

// HeaderValue is http.Header[key][i] of the request net/http would have
// parsed: Host and Transfer-Encoding are not in it.
func (r *reqHead) HeaderValue(key string, i int) (string, bool) {
	for _, f := range r.fields {
		if f.kind == kindHost || f.kind == kindTransferEncoding || !strings.EqualFold(f.name, key) {
			continue
		}
		if i == 0 {
			return f.value, true
		}
		i--
	}
	return "", false
}

func (r *reqHead) RemoteAddr() string { return r.remoteAddr }

// values returns the values of the header of kind k joined with ", ", as
// strings.Join(h.Values(name), ", ").
func (r *reqHead) joined(k uint8) string {
	var b strings.Builder
	for _, f := range r.fields {
		if f.kind == k {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.value)
		}
	}
	return b.String()
}

// cookie returns the value of the first cookie named name in the Cookie
// headers, as http.Request.Cookie(name) finds it, without allocating.
func (r *reqHead) cookie(name string) (string, bool) {
	for _, f := range r.fields {
		if f.kind != kindCookie {
			continue
		}
		if v, ok := cookieIn(f.value, name); ok {
			return v, true
		}
	}
	return "", false
}

// cookieIn looks for name in one Cookie header line, following net/http's
// readCookies: pairs separated by ';', trimmed, a valid token name, a
// value with optional double quotes and only valid cookie bytes.
func cookieIn(line, name string) (string, bool) {
	line = trimSpace(line)
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		part = trimSpace(part)
		if part == "" {
			continue
		}
		n, v, _ := strings.Cut(part, "=")
		n = trimSpace(n)
		if n != name || !isToken(n) {
			continue
		}
		if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		ok := true
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' {
				ok = false
				break
			}
		}
		if ok {
			return v, true
		}
	}
	return "", false
}
