package ingress

import (
	"bufio"
	"errors"
	"net/url"
	"strings"
)

// This file is the fast path's request-head reader and parser (see
// fastServer). It accepts a strict subset of HTTP/1.1: whatever it does
// not accept is handed, unread, to the net/http server, which serves or
// refuses it as it always did. So the parser never has to be lenient
// and never answers 400 itself.

// errHeadTooLarge is a request head longer than the limit (answered 431).
var errHeadTooLarge = errors.New("ingress: request head too large")

// readHead reads one request head, from the request line to the empty
// line, into dst (reused) and returns it. Empty lines before the request
// line are skipped (RFC 9112 section 2.2). It stops with errHeadTooLarge
// once the head exceeds limit bytes.
func readHead(br *bufio.Reader, dst []byte, limit int) ([]byte, error) {
	dst = dst[:0]
	for skipped := 0; ; skipped++ {
		b, err := br.Peek(1)
		if err != nil {
			return dst, err
		}
		if b[0] != '\r' && b[0] != '\n' {
			break
		}
		if skipped >= limit {
			return dst, errHeadTooLarge
		}
		_, _ = br.Discard(1)
	}
	lineStart := 0
	for {
		line, err := br.ReadSlice('\n')
		dst = append(dst, line...)
		if len(dst) > limit {
			return dst, errHeadTooLarge
		}
		switch err {
		case nil:
		case bufio.ErrBufferFull:
			continue // the same line goes on
		default:
			return dst, err
		}
		l := dst[lineStart:]
		if len(l) <= 2 && (len(l) == 1 || l[0] == '\r') && lineStart > 0 {
			return dst, nil // the empty line
		}
		lineStart = len(dst)
	}
}

// Header kinds the parser acts on; kindOther is forwarded as it is.
const (
	kindOther uint8 = iota
	kindHost
	kindContentLength
	kindTransferEncoding
	kindConnection
	kindHop // hop-by-hop, never forwarded (Keep-Alive, Te, Trailer, …)
	kindForwardedDrop
	kindXFF
	kindXFProto
	kindXFHost
	kindXFPort
	kindXFServer
	kindXRealIP
	kindCookie
	// kindXFTrusted: other headers of Traefik's forwardedHeaders set,
	// and every forwarding header's underscore form, forwarded from
	// trusted proxies only (trustedOnlyHeader).
	kindXFTrusted
)

// field is one request header; its strings point into the head.
type field struct {
	name, value string
	kind        uint8
	// drop: named by the Connection header, so not forwarded.
	drop bool
}

// reqHead is one parsed request head. Its strings point into s, which
// is made from the connection's head buffer and is valid until the next
// request is parsed.
type reqHead struct {
	s              string
	method, target string
	path, query    string
	host           string
	fields         []field
	contentLength  int64 // 0 when absent
	chunked        bool
	close          bool // Connection: close
	teTrailers     bool // Te: trailers (forwarded)
	connTokens     bool // Connection names headers to remove
	u              *url.URL
	outTarget      string // the target sent to the backend
	remoteAddr     string
	tls            bool // came over TLS (ServeTLS)
	// First values of the forwarding headers (Header.Get), for trusted
	// clients.
	xfProto, xfHost, xfPort, xRealIP                     string
	hasXFF, hasXFProto, hasXFHost, hasXFPort, hasXRealIP bool
}

func (r *reqHead) reset() {
	fields := r.fields[:0]
	*r = reqHead{fields: fields}
}

// parseHead parses head (as read by readHead) into r and reports whether
// the fast path can serve the request. It returns false for anything
// outside the subset it serves: other protocol versions, targets not in
// origin form, CONNECT, Upgrade, Expect, a missing or repeated Host,
// repeated or unusual Content-Length or Transfer-Encoding, obsolete
// line folding, bare LF line ends and any byte net/http would refuse.
func (r *reqHead) parse(head string) bool {
	r.s = head
	s := head
	// Request line: METHOD SP TARGET SP HTTP/1.1 CRLF.
	i := 0
	for i < len(s) && isTokenByte(s[i]) {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != ' ' {
		return false
	}
	r.method = s[:i]
	if r.method == "CONNECT" || r.method == "PRI" {
		return false
	}
	s = s[i+1:]
	i = 0
	for i < len(s) && s[i] > ' ' && s[i] != 0x7f {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != ' ' || s[0] != '/' {
		return false
	}
	r.target = s[:i]
	s = s[i+1:]
	if !strings.HasPrefix(s, "HTTP/1.1\r\n") {
		return false
	}
	s = s[len("HTTP/1.1\r\n"):]
	if !r.parseTarget() {
		return false
	}

	hosts := 0
	for {
		if strings.HasPrefix(s, "\r\n") {
			break
		}
		eol := strings.IndexByte(s, '\n')
		if eol < 1 || s[eol-1] != '\r' {
			return false
		}
		line := s[:eol-1]
		s = s[eol+1:]
		n := 0
		for n < len(line) && isTokenByte(line[n]) {
			n++
		}
		if n == 0 || n >= len(line) || line[n] != ':' {
			return false // no name, a space before the colon, or no colon
		}
		name, value := line[:n], trimOWS(line[n+1:])
		for j := 0; j < len(value); j++ {
			if c := value[j]; (c < ' ' && c != '\t') || c == 0x7f {
				return false
			}
		}
		f := field{name: name, value: value, kind: requestKind(name)}
		switch f.kind {
		case kindHost:
			hosts++
			if hosts > 1 || !validHost(value) {
				return false
			}
			r.host = value
		case kindContentLength:
			if r.contentLength != 0 || r.chunked {
				return false
			}
			cl, ok := parseContentLength(value)
			if !ok {
				return false
			}
			r.contentLength = cl
			if cl == 0 {
				r.contentLength = -1 // "present", fixed below
			}
		case kindTransferEncoding:
			if r.chunked || r.contentLength != 0 || !strings.EqualFold(value, "chunked") {
				return false
			}
			r.chunked = true
		case kindConnection:
			if !r.connection(value) {
				return false
			}
		case kindOther:
			if isUnsupported(name) {
				return false
			}
		case kindHop:
			if len(name) == 2 && hasToken(value, "trailers") { // Te
				r.teTrailers = true
			}
		case kindXFF:
			r.hasXFF = true
		case kindXFProto:
			if !r.hasXFProto {
				r.xfProto, r.hasXFProto = value, true
			}
		case kindXFHost:
			if !r.hasXFHost {
				r.xfHost, r.hasXFHost = value, true
			}
		case kindXFPort:
			if !r.hasXFPort {
				r.xfPort, r.hasXFPort = value, true
			}
		case kindXRealIP:
			if !r.hasXRealIP {
				r.xRealIP, r.hasXRealIP = value, true
			}
		}
		r.fields = append(r.fields, f)
	}
	if hosts != 1 {
		return false
	}
	if r.contentLength < 0 {
		r.contentLength = 0
	}
	if r.connTokens {
		r.dropConnectionListed()
	}
	return true
}

// connection reads a Connection header value.
func (r *reqHead) connection(v string) bool {
	for v != "" {
		var tok string
		tok, v, _ = strings.Cut(v, ",")
		tok = trimOWS(tok)
		switch {
		case tok == "":
		case strings.EqualFold(tok, "close"):
			r.close = true
		case strings.EqualFold(tok, "keep-alive"):
		case strings.EqualFold(tok, "upgrade"):
			return false
		default:
			r.connTokens = true
		}
	}
	return true
}

// dropConnectionListed marks the headers the Connection header names as
// not forwarded, as ReverseProxy's removeHopByHopHeaders does. The fields
// the proxy writes itself (Host, framing) are unaffected either way.
func (r *reqHead) dropConnectionListed() {
	for _, c := range r.fields {
		if c.kind != kindConnection {
			continue
		}
		v := c.value
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			tok = trimOWS(tok)
			if tok == "" || forwardingHeader(tok) {
				continue // X-Real-Ip, …: not the client's to remove (keepForwarding)
			}
			for i := range r.fields {
				if strings.EqualFold(r.fields[i].name, tok) {
					r.fields[i].drop = true
				}
			}
		}
	}
}

// parseTarget splits the origin-form target. A path of bytes that
// net/url leaves as they are, and a query net/http's ReverseProxy would
// not re-encode, are used as they are; anything else (percent-escapes,
// bytes url.URL.EscapedPath would escape, a query with ';' or a bad
// escape) is parsed with url.ParseRequestURI, as net/http does, and sent
// as RequestURI() with the query cleaned as ReverseProxy cleans it.
func (r *reqHead) parseTarget() bool {
	t := r.target
	path, query, hasQuery := strings.Cut(t, "?")
	r.path, r.query = path, query
	r.outTarget = t
	plain := true
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			plain = false
			break
		}
	}
	if plain && (!hasQuery || cleanQuery(query)) {
		return true
	}
	u, err := url.ParseRequestURI(t)
	if err != nil {
		return false
	}
	r.u = u
	out := *u
	out.RawQuery = cleanQueryParams(u.RawQuery)
	r.outTarget = out.RequestURI()
	return true
}

// plainPathByte marks the bytes a path can hold and still be its own
// url.URL.EscapedPath() and routing path: unreserved characters, sub-
// delimiters, ':', '@', '/', '[' and ']'.
var plainPathByte = alnumAnd("-._~!$&'()*+,;=:@/[]")

// defaultMaxParams is net/url's default bound on query parameters, past
// which ReverseProxy re-encodes the query.
const defaultMaxParams = 10000

// cleanQuery reports whether ReverseProxy's cleanQueryParams leaves q as
// it is.
func cleanQuery(q string) bool {
	params := 1
	for i := 0; i < len(q); {
		switch q[i] {
		case ';':
			return false
		case '&':
			params++
			i++
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return false
			}
			i += 3
		default:
			i++
		}
	}
	return params <= defaultMaxParams
}

// cleanQueryParams is net/http/httputil's: a query that url.ParseQuery
// would refuse is re-encoded without its bad parameters.
func cleanQueryParams(s string) string {
	if cleanQuery(s) {
		return s
	}
	v, _ := url.ParseQuery(s)
	return v.Encode()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isUnsupported reports the headers that send a request to net/http:
// protocol upgrades (WebSocket, h2c) and Expect (100-continue, or a 417).
func isUnsupported(name string) bool {
	switch len(name) {
	case 6:
		return strings.EqualFold(name, "Expect")
	case 7:
		return strings.EqualFold(name, "Upgrade")
	case 14:
		return strings.EqualFold(name, "HTTP2-Settings")
	}
	return false
}

// requestKind classifies a request header name.
func requestKind(name string) uint8 {
	if len(name) > 0 && name[0]|0x20 == 'x' && strings.IndexByte(name, '_') >= 0 && forwardingHeader(name) {
		return kindXFTrusted
	}
	switch len(name) {
	case 2:
		if strings.EqualFold(name, "Te") {
			return kindHop
		}
	case 4:
		if strings.EqualFold(name, "Host") {
			return kindHost
		}
	case 6:
		if strings.EqualFold(name, "Cookie") {
			return kindCookie
		}
	case 7:
		if strings.EqualFold(name, "Trailer") {
			return kindHop
		}
	case 8:
		if strings.EqualFold(name, "X-Scheme") {
			return kindXFTrusted
		}
	case 9:
		if strings.EqualFold(name, "Forwarded") {
			return kindForwardedDrop
		}
		if strings.EqualFold(name, "X-Real-Ip") {
			return kindXRealIP
		}
	case 10:
		if strings.EqualFold(name, "Connection") {
			return kindConnection
		}
		if strings.EqualFold(name, "Keep-Alive") {
			return kindHop
		}
	case 14:
		if strings.EqualFold(name, "Content-Length") {
			return kindContentLength
		}
	case 15:
		if strings.EqualFold(name, "X-Forwarded-For") {
			return kindXFF
		}
		if strings.EqualFold(name, "X-Forwarded-Uri") {
			return kindXFTrusted
		}
	case 16:
		if strings.EqualFold(name, "Proxy-Connection") {
			return kindHop
		}
		if strings.EqualFold(name, "X-Forwarded-Host") {
			return kindXFHost
		}
		if strings.EqualFold(name, "X-Forwarded-Port") {
			return kindXFPort
		}
	case 17:
		if strings.EqualFold(name, "Transfer-Encoding") {
			return kindTransferEncoding
		}
		if strings.EqualFold(name, "X-Forwarded-Proto") {
			return kindXFProto
		}
	case 18:
		if strings.EqualFold(name, "Proxy-Authenticate") {
			return kindHop
		}
		if strings.EqualFold(name, "X-Forwarded-Server") {
			return kindXFServer
		}
		if strings.EqualFold(name, "X-Forwarded-Method") || strings.EqualFold(name, "X-Forwarded-Prefix") ||
			strings.EqualFold(name, "X-Forwarded-Scheme") {
			return kindXFTrusted
		}
	case 19:
		if strings.EqualFold(name, "Proxy-Authorization") {
			return kindHop
		}
	case 27:
		if strings.EqualFold(name, "X-Forwarded-Tls-Client-Cert") {
			return kindXFTrusted
		}
	case 32:
		if strings.EqualFold(name, "X-Forwarded-Tls-Client-Cert-Info") {
			return kindXFTrusted
		}
	}
	return kindOther
}
