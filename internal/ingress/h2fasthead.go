package ingress

import (
	"net"
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The fast lane's outbound request head, written straight from the
// client's header map: what outboundHeader, rewriteHeaders (the
// forwarding headers of a client that is not a trusted proxy) and
// writeRequestHead write together, without the outbound map.

// appendFastHead appends the head of out, the outbound copy of in with
// its host set for the attempt, to o; false, o unchanged, for what it
// leaves to the outbound map: a trusted client, a field or host that
// headersSendable or writeRequestHead would refuse.
func (p *Proxy) appendFastHead(o []byte, in, out *http.Request) ([]byte, bool) {
	clientIP := peerIP(in)
	if p.trusted(clientIP) || in.Method == http.MethodConnect {
		return o, false
	}
	host := out.Host
	if host == "" {
		host = out.URL.Host
	}
	if !validFieldValue(out.Host) || !httpguts.ValidHostHeader(host) || strings.IndexByte(host, '%') >= 0 || !isASCII(host) {
		return o, false
	}
	ruri := out.URL.RequestURI()
	for i := 0; i < len(ruri); i++ {
		if ruri[i] < ' ' || ruri[i] == 0x7f {
			return o, false
		}
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	port := ""
	if _, pt, err := net.SplitHostPort(in.Host); err == nil && pt != "" {
		port = pt
	} else if proto == "https" {
		port = "443"
	} else {
		port = "80"
	}
	if !validFieldValue(clientIP) || !validFieldValue(in.Host) || !validFieldValue(port) {
		return o, false
	}
	start := len(o)
	o = append(o, in.Method...)
	o = append(o, ' ')
	o = append(o, ruri...)
	o = append(o, " HTTP/1.1\r\nHost: "...)
	o = append(o, host...)
	o = append(o, "\r\n"...)
	if ua := in.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		o = append(o, "User-Agent: "...)
		o = append(o, textproto.TrimString(ua[0])...)
		o = append(o, "\r\n"...)
	}
	switch in.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		o = append(o, "Content-Length: 0\r\n"...)
	}
	hostname := p.hostname
	for k, vs := range in.Header {
		write := true
		switch k {
		case "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "X-Real-Ip",
			"X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Tls-Client-Cert", "X-Forwarded-Tls-Client-Cert-Info",
			"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
			"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Forwarded":
			continue // replaced below, or not sent
		case "X-Forwarded-Server":
			if hostname != "" {
				continue
			}
		case "Host", "User-Agent", "Content-Length":
			// In the outbound map (so checked) but not written as such.
			write = false
		default:
			if trustedOnlyHeader(k) {
				continue // X-Forwarded-Prefix, X_Forwarded_For, …
			}
		}
		if !isToken(k) {
			return o[:start], false
		}
		for _, v := range vs {
			if !validFieldValue(v) {
				return o[:start], false
			}
			if write {
				o = append(o, k...)
				o = append(o, ": "...)
				o = append(o, textproto.TrimString(v)...)
				o = append(o, "\r\n"...)
			}
		}
	}
	if v := in.Header["Te"]; len(v) == 1 && v[0] == "trailers" {
		o = append(o, "Te: trailers\r\n"...)
	}
	o = append(o, "X-Forwarded-For: "...)
	o = append(o, clientIP...)
	o = append(o, "\r\nX-Forwarded-Proto: "...)
	o = append(o, proto...)
	o = append(o, "\r\nX-Forwarded-Host: "...)
	o = append(o, in.Host...)
	o = append(o, "\r\nX-Forwarded-Port: "...)
	o = append(o, port...)
	o = append(o, "\r\n"...)
	if hostname != "" {
		o = append(o, "X-Forwarded-Server: "...)
		o = append(o, hostname...)
		o = append(o, "\r\n"...)
	}
	o = append(o, "X-Real-Ip: "...)
	o = append(o, clientIP...)
	return append(o, "\r\n\r\n"...), true
}
