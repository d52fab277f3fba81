package resolver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// forward asks the upstream resolvers, in order, until one gives an answer
// that is not SERVFAIL or REFUSED, as a stub resolver would. Every failure
// becomes SERVFAIL to the client, so it never waits for a reply that will
// not come.
func (r *Resolver) forward(ctx context.Context, req *dns.Msg, proto string) *dns.Msg {
	if len(r.upstreams) == 0 {
		return reply(req, dns.RcodeServerFailure)
	}
	select {
	case r.forwards <- struct{}{}:
		defer func() { <-r.forwards }()
	default:
		// Docker answers REFUSED over its limit too: the client may try
		// another server instead of piling up more work here.
		if now := time.Now().UnixNano(); now-r.lastRefusedLog.Load() > int64(time.Minute) {
			// Once a minute: a flood must not flood the log too.
			r.lastRefusedLog.Store(now)
			r.log.Warn("dns: too many queries forwarded at once, refusing", "limit", cap(r.forwards))
		}
		return reply(req, dns.RcodeRefused)
	}
	// A fresh ID (and, from the dns client, a fresh socket and port) per
	// upstream query: the client's ID is known to the client, so reusing
	// it would make the answer easier to spoof.
	up := req.Copy()
	up.Id = dns.Id()
	c := &dns.Client{Net: proto, Timeout: r.cfg.ForwardTimeout, UDPSize: uint16(sizeLimit(req, proto))}
	var last *dns.Msg
	for _, addr := range r.upstreams {
		resp, _, err := c.ExchangeContext(ctx, up, addr)
		if err != nil {
			r.log.Debug("dns: upstream failed", "upstream", addr, "name", req.Question[0].Name, "err", err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused {
			last = resp
			continue
		}
		resp.Id = req.Id
		return fit(resp, req, proto)
	}
	if last != nil {
		last.Id = req.Id
		return fit(last, req, proto)
	}
	return reply(req, dns.RcodeServerFailure)
}

// readUpstreams reads the nameservers of a resolv.conf file. Loopback
// servers (systemd-resolved's 127.0.0.53) are kept: the resolver runs in
// the host's namespace, where they answer.
func readUpstreams(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read upstream resolvers from %s: %w", path, err)
	}
	port, err := strconv.ParseUint(cc.Port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("read upstream resolvers from %s: port %q: %w", path, cc.Port, err)
	}
	var out []string
	for _, s := range cc.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("read upstream resolvers from %s: nameserver %q: %w", path, s, err)
		}
		out = append(out, netip.AddrPortFrom(a, uint16(port)).String())
	}
	return out, nil
}

// checkUpstreams validates configured upstream addresses ("ip:port").
func checkUpstreams(addrs []string) ([]string, error) {
	out := make([]string, 0, len(addrs))
	for _, s := range addrs {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			host, _, splitErr := net.SplitHostPort(s)
			if splitErr != nil || host == "" {
				return nil, fmt.Errorf("upstream resolver %q: want IP:port, such as 10.0.0.2:53", s)
			}
			return nil, fmt.Errorf("upstream resolver %q: want an IP address, not a name: %w", s, err)
		}
		out = append(out, ap.String())
	}
	return out, nil
}
