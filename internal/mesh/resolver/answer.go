package resolver

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// answer is the reply to req from q (nil when the querier is unknown, which
// gets the rcode noQuerier) asked over proto ("udp" or "tcp"). It never
// returns nil and never panics on any message the dns package decodes.
func (r *Resolver) answer(ctx context.Context, t *table, req *dns.Msg, q *querier, noQuerier int, proto string) *dns.Msg {
	if req.Opcode != dns.OpcodeQuery {
		return reply(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return reply(req, dns.RcodeFormatError)
	}
	if q == nil {
		return reply(req, noQuerier)
	}
	question := req.Question[0]
	if question.Qclass != dns.ClassINET {
		return reply(req, dns.RcodeNotImplemented)
	}
	name := strings.ToLower(question.Name)
	if question.Qtype == dns.TypePTR {
		if addr, ok := ptrAddr(name); ok {
			if host, ok := t.lookupPTR(q, addr); ok {
				resp := local(req)
				resp.Answer = append(resp.Answer, &dns.PTR{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: vipTTL},
					Ptr: host,
				})
				return fit(resp, req, proto)
			}
		}
	} else if rec, ok := t.lookup(q, name); ok {
		// A cluster name is answered here whatever the type: it is never
		// sent upstream, where it would leak or resolve to a stranger.
		// There are no IPv6 addresses on the overlay, so AAAA (and every
		// other type) gets an empty NOERROR answer.
		resp := local(req)
		if question.Qtype == dns.TypeA || question.Qtype == dns.TypeANY {
			addrs := rec.addrs
			if len(addrs) > 1 {
				addrs = slices.Clone(addrs)
				rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
			}
			resp.Answer = make([]dns.RR, 0, len(addrs))
			for _, a := range addrs {
				resp.Answer = append(resp.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: rec.ttl},
					A:   a.AsSlice(),
				})
			}
		}
		return fit(resp, req, proto)
	}
	if !q.forward {
		// Docker's rule: a task on internal networks only gets no
		// external names, and the resolver, which sits in the host's
		// namespace, must not be its way out.
		return reply(req, dns.RcodeServerFailure)
	}
	return r.forward(ctx, req, proto)
}

// local starts an authoritative reply to a cluster name.
func local(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg).SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(maxUDPSize, false)
	}
	return resp
}

// reply is an empty reply with rcode.
func reply(req *dns.Msg, rcode int) *dns.Msg {
	resp := new(dns.Msg).SetRcode(req, rcode)
	resp.RecursionAvailable = true
	// The question is echoed only when there is exactly one (SetRcode
	// copies the first); a malformed query gets a bare header.
	if len(req.Question) != 1 {
		resp.Question = nil
	}
	return resp
}

// maxUDPSize is the largest UDP reply the resolver sends, whatever a
// client advertises: the EDNS size recommended since DNS flag day 2020.
const maxUDPSize = 1232

// sizeLimit is the largest reply req may get over proto: TCP takes any
// message; UDP takes 512 bytes, or the client's EDNS size up to maxUDPSize.
func sizeLimit(req *dns.Msg, proto string) int {
	if proto == "tcp" {
		return dns.MaxMsgSize
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = max(size, min(int(opt.UDPSize()), maxUDPSize))
	}
	return size
}

// fit truncates resp to what req may receive, setting TC when records were
// dropped so the client asks again over TCP.
func fit(resp, req *dns.Msg, proto string) *dns.Msg {
	resp.Truncate(sizeLimit(req, proto))
	return resp
}

// ptrAddr parses an IPv4 reverse name ("4.3.2.10.in-addr.arpa.").
func ptrAddr(name string) (netip.Addr, bool) {
	rest, ok := strings.CutSuffix(name, ".in-addr.arpa.")
	if !ok {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i := 3; i >= 0; i-- {
		label := rest
		if i > 0 {
			var found bool
			label, rest, found = strings.Cut(rest, ".")
			if !found {
				return netip.Addr{}, false
			}
		}
		if len(label) == 0 || len(label) > 3 || (len(label) > 1 && label[0] == '0') {
			return netip.Addr{}, false
		}
		n := 0
		for _, c := range []byte(label) {
			if c < '0' || c > '9' {
				return netip.Addr{}, false
			}
			n = n*10 + int(c-'0')
		}
		if n > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), true
}
