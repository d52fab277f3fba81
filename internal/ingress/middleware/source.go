package middleware

import (
	"crypto/sha256"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ipStrategy finds the client IP as Traefik's ipStrategy: with depth,
// the depth-th address from the right of X-Forwarded-For ("" when it
// has fewer); with excludedIPs, the rightmost address not excluded;
// otherwise the connection's peer. The ingress removes X-Forwarded-For
// of clients that are not trusted proxies before the middlewares run,
// as Traefik's entry points do.
type ipStrategy struct {
	depth    int
	excluded []netip.Prefix
}

func (o *options) ipStrategy(prefix string) ipStrategy {
	s := ipStrategy{depth: int(o.integer(prefix+".depth", 0, 0))}
	s.excluded = o.prefixes(prefix + ".excludedIPs")
	if _, ok := o.get(prefix + ".ipv6Subnet"); ok {
		o.fail(prefix+".ipv6Subnet", "not supported by shoal's ingress")
	}
	return s
}

func (s ipStrategy) clientIP(r *http.Request) string {
	switch {
	case s.depth > 0:
		xffs := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		if len(xffs) < s.depth {
			return ""
		}
		return strings.TrimSpace(xffs[len(xffs)-s.depth])
	case len(s.excluded) > 0:
		xffs := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
		for i := len(xffs) - 1; i >= 0; i-- {
			ip := strings.TrimSpace(xffs[i])
			if ip != "" && !containsIP(s.excluded, ip) {
				return ip
			}
		}
		return ""
	}
	return peer(r)
}

// peer is the address of the request's connection.
func peer(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func containsIP(ps []netip.Prefix, ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// sourceCriterion groups requests by source, as Traefik's: an
// ipStrategy, a request header's value, or the request's host; at most
// one. def is used when none is set.
func (o *options) sourceCriterion(def string) func(*http.Request) string {
	const p = "sourceCriterion"
	header := o.str(p+".requestHeaderName", "")
	host := o.boolean(p + ".requestHost")
	var hasIP bool
	for _, op := range o.opts {
		if strings.HasPrefix(strings.ToLower(op.Key), strings.ToLower(p+".ipStrategy.")) {
			hasIP = true
		}
	}
	ips := o.ipStrategy(p + ".ipStrategy")
	n := 0
	for _, set := range []bool{header != "", host, hasIP} {
		if set {
			n++
		}
	}
	if n > 1 {
		o.fail(p, "ipStrategy, requestHeaderName and requestHost are mutually exclusive")
	}
	switch {
	case header != "":
		return func(r *http.Request) string { return boundKey(r.Header.Get(header)) }
	case host || (!hasIP && def == "host"):
		return func(r *http.Request) string { return r.Host }
	}
	// A request whose ipStrategy finds no address (an X-Forwarded-For
	// shorter than depth: a client that is not a trusted proxy, whose
	// header the entry point dropped) is counted by its connection's
	// peer. Traefik counts all of them under one empty key, so that one
	// such client could spend every other's budget.
	return func(r *http.Request) string {
		if ip := ips.clientIP(r); ip != "" {
			return ip
		}
		return peer(r)
	}
}

// maxSourceKey bounds the source keys the limiters keep: a header value
// may be as long as the ingress's MaxHeaderBytes, and maxSources of
// them kept whole would hold gigabytes.
const maxSourceKey = 64

// boundKey is k, or its SHA-256 when k is longer than maxSourceKey.
func boundKey(k string) string {
	if len(k) <= maxSourceKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return string(sum[:])
}
