package ingress

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"strings"
)

// The forwarding headers (X-Forwarded-*, X-Real-Ip) both request paths
// set on what they send to a backend, as Traefik sets them.

// rewrite prepares the outbound request: the backend itself is chosen
// per attempt by the forwarder.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := stateFrom(pr.In.Context())
	pr.Out.URL.Scheme = st.pool.lb.urlScheme()
	pr.Out.URL.Host = st.pool.name // replaced by the backend's address
	p.rewriteHeaders(pr.In, pr.Out.Header, st)
}

// rewriteHeaders is p.rewrite on the outbound headers h of in.
func (p *Proxy) rewriteHeaders(in *http.Request, h http.Header, st *reqState) {
	if !st.forwarded {
		p.forwardedHeaders(in, h, true)
		return
	}
	// Set on in before the middlewares, and removed from the outbound
	// request since: put back. The client's address is appended to
	// X-Forwarded-For now, as Traefik's proxy does after its
	// middlewares.
	for _, k := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := in.Header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	h.Set("X-Forwarded-For", appendForwardedFor(in.Header.Values("X-Forwarded-For"), peerIP(in)))
}

func peerIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

func appendForwardedFor(prior []string, ip string) string {
	if len(prior) == 0 {
		return ip
	}
	return strings.Join(prior, ", ") + ", " + ip
}

// trustedOnlyForwarded are the headers of Traefik's forwardedHeaders set
// (pkg/middlewares/forwardedheaders, XHeadersSet) that the proxy does not
// set: removed unless the client is a trusted proxy, since backends
// behind Traefik trust them (X-Forwarded-Tls-Client-Cert is the client
// certificate passTLSClientCert verified, X-Forwarded-Prefix the prefix
// stripprefix removed, from which frameworks build their links).
var trustedOnlyForwarded = map[string]bool{
	"X-Forwarded-Uri": true, "X-Forwarded-Method": true, "X-Forwarded-Tls-Client-Cert": true,
	"X-Forwarded-Tls-Client-Cert-Info": true, "X-Forwarded-Prefix": true, "X-Forwarded-Scheme": true,
	"X-Scheme": true,
}

// managedForwarded are all of Traefik's forwarding headers: those above
// and those the proxy sets.
var managedForwarded = map[string]bool{
	"X-Forwarded-For": true, "X-Forwarded-Proto": true, "X-Forwarded-Host": true,
	"X-Forwarded-Port": true, "X-Forwarded-Server": true, "X-Real-Ip": true,
}

// trustedOnlyHeader reports whether a client's header named name reaches
// a backend only from a trusted proxy: trustedOnlyForwarded, and the
// underscore forms of every forwarding header (X_Forwarded_For), which
// Go's server keeps as they are and which backends that turn headers
// into variables (CGI, PHP's $_SERVER) read as the dashed one, as
// Traefik removes them. name is in canonical form, or any case for the
// underscore forms.
func trustedOnlyHeader(name string) bool {
	if len(name) < 8 || name[0]|0x20 != 'x' {
		return false
	}
	if strings.IndexByte(name, '_') < 0 {
		return trustedOnlyForwarded[name]
	}
	return forwardingHeader(name)
}

// forwardingHeader reports whether name, in any case and with '-' or
// '_' between its words, is one of Traefik's forwarding headers (its
// isManagedXHeader).
func forwardingHeader(name string) bool {
	if len(name) < 8 || name[0]|0x20 != 'x' {
		return false
	}
	k := http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
	return trustedOnlyForwarded[k] || managedForwarded[k]
}

// keepForwarding applies a client's Connection header to h before the
// middlewares, as Traefik's entry points (CVE-2021-32813,
// CVE-2024-45410): the headers it names are removed now, so that those a
// middleware sets afterwards (headers, basicauth's headerField,
// stripprefix's X-Forwarded-Prefix) reach the backend; and it cannot
// name a forwarding header, in any case: the X-Real-Ip the ingress set
// stays (a client would otherwise hide its address from a backend that
// falls back to the connection's, the ingress's), and so do a trusted
// proxy's. Only the hop-by-hop options (Upgrade, Te, close, …) stay in
// Connection, for ReverseProxy.
func keepForwarding(h http.Header) {
	vs := h["Connection"]
	changed := false
	for _, v := range vs {
		for t := range strings.SplitSeq(v, ",") {
			if t = textproto.TrimString(t); t != "" && !hopOption(t) {
				changed = true
			}
		}
	}
	if !changed {
		return
	}
	var kept []string
	for _, v := range vs {
		for t := range strings.SplitSeq(v, ",") {
			switch t = textproto.TrimString(t); {
			case t == "":
			case hopOption(t):
				kept = append(kept, t)
			case !forwardingHeader(t):
				delete(h, http.CanonicalHeaderKey(t))
			}
		}
	}
	if len(kept) == 0 {
		delete(h, "Connection")
		return
	}
	h["Connection"] = []string{strings.Join(kept, ", ")}
}

// hopOption reports whether a Connection token is left to ReverseProxy:
// close, keep-alive and the headers it removes itself.
func hopOption(t string) bool {
	if strings.EqualFold(t, "close") || strings.EqualFold(t, "keep-alive") {
		return true
	}
	for _, k := range hopHeaders {
		if strings.EqualFold(t, k) {
			return true
		}
	}
	return false
}

// forwardedHeaders sets in h (the outbound headers, or in's own) the
// X-Forwarded-For/Proto/Host/Port/Server and X-Real-Ip of request in, as
// Traefik does. Values from the client are kept (X-Forwarded-For
// appended to) only when it is a trusted proxy, and so are those of
// trustedOnlyForwarded. Without appendPeer (before the middlewares, as
// Traefik's entry point) X-Forwarded-For is only cleared of an untrusted
// client's: the peer is appended after the middlewares (rewrite), so
// ipStrategy.depth counts the hops before it, as in Traefik.
func (p *Proxy) forwardedHeaders(in *http.Request, h http.Header, appendPeer bool) {
	clientIP := peerIP(in)
	trusted := p.trusted(clientIP)
	if !trusted {
		for k := range h {
			if trustedOnlyHeader(k) {
				delete(h, k)
			}
		}
	}
	var prior []string
	if trusted {
		prior = in.Header.Values("X-Forwarded-For")
	}
	switch {
	case appendPeer:
		h.Set("X-Forwarded-For", appendForwardedFor(prior, clientIP))
	case !trusted:
		h.Del("X-Forwarded-For")
	}

	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	if strings.EqualFold(in.Header.Get("Upgrade"), "websocket") {
		proto = "ws"
		if in.TLS != nil {
			proto = "wss"
		}
	}
	if v := in.Header.Get("X-Forwarded-Proto"); trusted && v != "" {
		proto = v
	}
	h.Set("X-Forwarded-Proto", proto)

	host := in.Host
	if v := in.Header.Get("X-Forwarded-Host"); trusted && v != "" {
		host = v
	}
	h.Set("X-Forwarded-Host", host)

	port := ""
	if v := in.Header.Get("X-Forwarded-Port"); trusted && v != "" {
		port = v
	} else if _, pt, err := net.SplitHostPort(in.Host); err == nil && pt != "" {
		port = pt
	} else if proto == "https" || proto == "wss" {
		port = "443"
	} else {
		port = "80"
	}
	h.Set("X-Forwarded-Port", port)
	if p.hostname != "" {
		h.Set("X-Forwarded-Server", p.hostname)
	}
	if v := in.Header.Get("X-Real-Ip"); !(trusted && v != "") {
		h.Set("X-Real-Ip", clientIP)
	}
}

func (p *Proxy) trusted(ip string) bool {
	if len(p.opts.TrustedProxies) == 0 {
		return false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, pf := range p.opts.TrustedProxies {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}
