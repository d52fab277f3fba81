package ingress

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The request path rule. Both request paths, the fast path (reqHead) and
// net/http's (ServeHTTP), route and forward a request on the path that
// pathRule.clean returns for it, so that what the rules match is what
// the backend receives. It follows Traefik v3's entry points (encoded
// character filtering, then normalizePath, then sanitizePath):
//
//   - an encoded slash or backslash (%2F, %5C, in either case; a raw
//     backslash too, which is sent on as %5C) is refused with 400 unless
//     Options allow it: a backend that decodes it before it splits the
//     path would see segments, and "..", that routing never matched;
//   - escapes of unreserved characters (RFC 3986 section 2.3: letters,
//     digits, "-", ".", "_", "~") are decoded, so /%2e%2e/ is the ".."
//     it means, and the hex digits of the other escapes are upper-cased
//     (section 6.2.2.1);
//   - "." and ".." segments are removed (section 5.2.4) and repeated
//     slashes collapsed: /a/./b/../c//d becomes /a/c/d;
//   - every other escape (%20, %00, %25, %3F, …) is sent on, its hex
//     upper-cased; the rules see those that are not reserved characters
//     decoded (rules.routingPath);
//   - the query is never changed.

// Why a request path is refused (400).
var (
	errEncodedSlash     = errors.New("the request path holds an encoded slash (%2F), which this ingress refuses")
	errEncodedBackslash = errors.New(`the request path holds a backslash (\ or %5C), which this ingress refuses`)
	errPathForm         = errors.New("the request path is not absolute (it must start with /)")
	errPathEscape       = errors.New("the request path holds a malformed percent-escape")
	errPathLong         = fmt.Errorf("the request path is longer than %d bytes", maxPathBytes)
	errHostLong         = fmt.Errorf("the request host is longer than %d bytes", maxHostBytes)
)

// maxPathBytes and maxHostBytes bound the path and host a request is
// routed with (Apache and nginx refuse request lines past 8 KiB; a DNS
// name has at most 253 bytes). The router rules' regular expressions
// take time linear in their input times their size: a 1 MiB Host, as
// MaxHeaderBytes allows, cost HostRegexp(`[a-z0-9-]{1,63}\.example\.com`)
// 3 s of CPU. The query is not bounded here: only QueryRegexp reads it.
const (
	maxPathBytes = 8 << 10
	maxHostBytes = 1 << 10
)

// pathRule is the path rule with the encoded separators a Proxy lets
// through (Options.AllowEncodedSlash, AllowEncodedBackslash).
type pathRule struct{ allowSlash, allowBackslash bool }

// clean returns the path a request whose path is p, exactly as the
// client sent it, is routed and forwarded with, or why it is refused. It
// returns p itself, without allocating, when p is already clean, as
// nearly every request's path is. "" (an absolute-form target without a
// path) and "*" (OPTIONS *) are left as they are. Bytes a path cannot
// hold unescaped (url.URL.EscapedPath's) are escaped.
func (pr pathRule) clean(p string) (string, error) {
	if len(p) > maxPathBytes {
		return "", errPathLong
	}
	if p == "" || p == "*" {
		return p, nil
	}
	if p[0] != '/' {
		return "", errPathForm
	}
	dirty := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", errPathEscape
			}
			switch c := unhex(p[i+1])<<4 | unhex(p[i+2]); {
			case c == '/' && !pr.allowSlash:
				return "", errEncodedSlash
			case c == '\\' && !pr.allowBackslash:
				return "", errEncodedBackslash
			case isUnreserved(c) || isLowerHex(p[i+1]) || isLowerHex(p[i+2]):
				dirty = true
			}
			i += 2
		case c == '/':
			if dotOrEmptySegment(p[i+1:]) {
				dirty = true
			}
		case c == '\\' && !pr.allowBackslash:
			return "", errEncodedBackslash
		case !plainPathByte[c]:
			dirty = true
		}
	}
	if !dirty {
		return p, nil
	}
	return removeDotSegments(normalizeEscapes(p)), nil
}

// dotOrEmptySegment reports whether the segment rest starts with is
// empty (but for the last), "." or "..".
func dotOrEmptySegment(rest string) bool {
	switch {
	case rest == "":
		return false
	case rest[0] == '/':
		return true
	case rest[0] != '.':
		return false
	}
	rest = rest[1:]
	if rest != "" && rest[0] == '.' {
		rest = rest[1:]
	}
	return rest == "" || rest[0] == '/'
}

// normalizeEscapes decodes the escapes of unreserved characters in p,
// upper-cases the others' hex digits, and escapes the bytes a path
// cannot hold as they are. p's escapes are well-formed.
func normalizeEscapes(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p) + len(p)/2)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if d := unhex(p[i+1])<<4 | unhex(p[i+2]); isUnreserved(d) {
				b.WriteByte(d)
			} else {
				b.WriteByte('%')
				b.WriteByte(upperHex(p[i+1]))
				b.WriteByte(upperHex(p[i+2]))
			}
			i += 2
		case plainPathByte[c]:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// removeDotSegments removes the "." and ".." segments of the absolute
// path p as RFC 3986 section 5.2.4 does, and its empty segments: a
// trailing slash stays, and a path ending in "." or ".." ends in a
// slash (/a/b/.. is /a/). ".." at the root stays at the root.
func removeDotSegments(p string) string {
	out := make([]byte, 0, len(p))
	rest := p[1:]
	for {
		seg, tail, more := strings.Cut(rest, "/")
		switch seg {
		case "", ".":
		case "..":
			out = out[:max(bytes.LastIndexByte(out, '/'), 0)]
		default:
			out = append(append(out, '/'), seg...)
		}
		if !more {
			if seg == "" || seg == "." || seg == ".." {
				out = append(out, '/')
			}
			break
		}
		rest = tail
	}
	if len(out) == 0 {
		return "/"
	}
	return string(out)
}

// cleanPath applies the path rule to a parsed request head: its routing
// view (URLPath, URLRawPath, EscapedPath) and outTarget then hold the
// cleaned path.
func (r *reqHead) cleanPath(pr pathRule) error {
	if len(r.host) > maxHostBytes {
		return errHostLong
	}
	clean, err := pr.clean(r.path)
	if err != nil || clean == r.path {
		return err
	}
	query := r.target[len(r.path):] // "?..." or ""
	r.path = clean
	if r.u == nil {
		// A plain path (see parseTarget) stays plain once cleaned: only
		// segments go. The query was clean, so is sent as it came.
		r.outTarget = clean + query
		return nil
	}
	setPath(r.u, clean)
	out := *r.u
	out.RawQuery = cleanQueryParams(r.u.RawQuery)
	r.outTarget = out.RequestURI()
	return nil
}

// cleanRequest applies the path rule to a request of the net/http path:
// it returns r itself when its path is clean, else a shallow copy with
// the cleaned path (both for routing and forwarding), or r and why it
// is refused.
func (pr pathRule) cleanRequest(r *http.Request) (*http.Request, error) {
	if len(r.Host) > maxHostBytes {
		return r, errHostLong
	}
	if r.URL.Opaque != "" || (r.URL.Path == "*" && r.Method != http.MethodOptions) {
		// An absolute-form target like "http:x", whose opaque part would
		// be sent on as the request target itself, or "*" for another
		// method than OPTIONS (RFC 9112 section 3.2.4).
		return r, errPathForm
	}
	// The path as sent: net/url keeps it in RawPath unless escaping
	// Path gives it back. (EscapedPath is not it: when RawPath holds a
	// byte that needs escaping, it escapes Path, where %2F is a slash.)
	sent := r.URL.RawPath
	if sent == "" {
		sent = r.URL.EscapedPath()
	}
	clean, err := pr.clean(sent)
	if err != nil || clean == sent {
		return r, err
	}
	r2 := r.WithContext(r.Context())
	u := *r.URL
	setPath(&u, clean)
	r2.URL = &u
	return r2, nil
}

// setPath sets u's path to the escaped path p as url.Parse would: Path
// decoded, RawPath only when escaping Path would not give p back.
func setPath(u *url.URL, p string) {
	u.Path, _ = url.PathUnescape(p) // p is clean's: well-formed
	u.RawPath = ""
	if u.EscapedPath() != p {
		u.RawPath = p
	}
}

// isUnreserved reports RFC 3986's unreserved characters.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isLowerHex(c byte) bool { return 'a' <= c && c <= 'f' }

func upperHex(c byte) byte {
	if isLowerHex(c) {
		return c - ('a' - 'A')
	}
	return c
}
