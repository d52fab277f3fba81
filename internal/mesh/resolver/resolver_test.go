package resolver

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestResolveNames is the behaviour list of discovery: what a task sees for
// each kind of name, over UDP and TCP, and whether the upstream was asked.
func TestResolveNames(t *testing.T) {
	u := startUpstream(t)
	s := serve(t, newResolver(t, Config{}, u, testSnapshot()), "")
	vipA := []string{"10.0.1.2"}
	tasksA := []string{"10.0.1.10", "10.0.1.11"} // not ta3, which is not ready
	rr := []string{"10.0.1.20", "10.0.1.21"}
	cases := []struct {
		name      string
		from      string
		qname     string
		qtype     uint16
		rcode     int
		want      []string // A answers, in any order
		ptr       string   // PTR answer
		forwarded bool     // the upstream was asked
	}{
		{name: "stack-local name resolves to the VIP", from: fromB, qname: "a.", want: vipA},
		{name: "full name resolves to the VIP", from: fromB, qname: "st_a.", want: vipA},
		{name: "names are case-insensitive", from: fromB, qname: "St_A.", want: vipA},
		{name: "network alias resolves to the VIP", from: fromB, qname: "alpha.", want: vipA},
		{name: "tasks.NAME gives the ready tasks", from: fromB, qname: "tasks.a.", want: tasksA},
		{name: "tasks.FULLNAME gives the ready tasks", from: fromB, qname: "tasks.st_a.", want: tasksA},
		{name: "tasks.ALIAS gives the ready tasks", from: fromB, qname: "tasks.alpha.", want: tasksA},
		{name: "dnsrr name gives the ready tasks", from: fromB, qname: "st_rr.", want: rr},
		{name: "dnsrr stack-local name gives the ready tasks", from: fromB, qname: "rr.", want: rr},
		{name: "a service resolves its own name", from: fromB, qname: "b.", want: []string{"10.0.1.3"}},
		{name: "AAAA of a cluster name is empty, not forwarded", from: fromB, qname: "st_a.", qtype: dns.TypeAAAA},
		{name: "other types of a cluster name are empty", from: fromB, qname: "st_a.", qtype: dns.TypeMX},
		{name: "PTR of a task address", from: fromB, qname: "10.1.0.10.in-addr.arpa.", qtype: dns.TypePTR, ptr: "st_a.1.ta1.st_appnet."},
		{name: "PTR of a VIP", from: fromB, qname: "2.1.0.10.in-addr.arpa.", qtype: dns.TypePTR, ptr: "st_a."},
		{name: "service on an unshared network is not resolved", from: fromB, qname: "other_c.", rcode: dns.RcodeNameError, forwarded: true},
		{name: "tasks. of an unshared service is not resolved", from: fromB, qname: "tasks.other_c.", rcode: dns.RcodeNameError, forwarded: true},
		{name: "PTR of an unshared VIP is not answered", from: fromB, qname: "2.3.0.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeNameError, forwarded: true},
		{name: "stack-local name of another stack is not resolved", from: fromOther, qname: "a.", rcode: dns.RcodeNameError, forwarded: true},
		{name: "full name resolves from another stack on a shared network", from: fromOther, qname: "st_a.", want: vipA},
		{name: "alias resolves from another stack on a shared network", from: fromOther, qname: "alpha.", want: vipA},
		{name: "outside name is forwarded upstream", from: fromB, qname: "example.com.", want: []string{"192.0.2.1"}, forwarded: true},
		{name: "search-domain name is not a cluster name", from: fromB, qname: "st_a.example.org.", rcode: dns.RcodeNameError, forwarded: true},
		{name: "internal-only task gets no outside names", from: fromInternal, qname: "example.com.", rcode: dns.RcodeServerFailure},
		{name: "internal-only task resolves its network's names", from: fromInternal, qname: "iso_x.", want: []string{"10.0.4.2"}},
		{name: "unknown source is refused", from: fromStranger, qname: "st_a.", rcode: dns.RcodeRefused},
		{name: "unknown source is not forwarded", from: fromStranger, qname: "example.com.", rcode: dns.RcodeRefused},
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, c := range cases {
			t.Run(proto+"/"+c.name, func(t *testing.T) {
				qtype := c.qtype
				if qtype == 0 {
					qtype = dns.TypeA
				}
				before := u.asked(c.qname)
				resp := s.query(t, proto, c.from, c.qname, qtype)
				if resp.Rcode != c.rcode {
					t.Fatalf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[c.rcode])
				}
				got := addrs(resp)
				slices.Sort(got)
				if !slices.Equal(got, c.want) {
					t.Errorf("answer %v, want %v", got, c.want)
				}
				for _, rr := range resp.Answer {
					if rr.Header().Name != c.qname {
						t.Errorf("answer for %q, want the name as asked, %q", rr.Header().Name, c.qname)
					}
				}
				if c.ptr != "" {
					if len(resp.Answer) != 1 || resp.Answer[0].(*dns.PTR).Ptr != c.ptr {
						t.Errorf("PTR answer %v, want %s", resp.Answer, c.ptr)
					}
				} else if qtype != dns.TypeA && len(resp.Answer) != 0 {
					t.Errorf("answer %v, want none", resp.Answer)
				}
				if asked := u.asked(c.qname) > before; asked != c.forwarded {
					t.Errorf("upstream asked: %v, want %v", asked, c.forwarded)
				}
			})
		}
	}
}

// TestTTLs: a VIP is cached like Docker's answers, task addresses not at all.
func TestTTLs(t *testing.T) {
	s := serve(t, newResolver(t, Config{}, nil, testSnapshot()), "")
	for name, want := range map[string]uint32{"st_a.": 600, "tasks.st_a.": 0, "st_rr.": 0} {
		resp := s.query(t, "udp", fromB, name, dns.TypeA)
		for _, rr := range resp.Answer {
			if rr.Header().Ttl != want {
				t.Errorf("%s: TTL %d, want %d", name, rr.Header().Ttl, want)
			}
		}
	}
}

// TestDNSRROrderIsRandom: dnsrr and tasks.NAME answers are shuffled, so
// clients that take the first address spread over the tasks.
func TestDNSRROrderIsRandom(t *testing.T) {
	s := serve(t, newResolver(t, Config{}, nil, testSnapshot()), "")
	firsts := map[string]bool{}
	for range 64 {
		resp := s.query(t, "udp", fromB, "st_rr.", dns.TypeA)
		firsts[addrs(resp)[0]] = true
	}
	if len(firsts) != 2 {
		t.Errorf("first addresses seen over 64 queries: %v, want both tasks", firsts)
	}
}

// TestLargeAnswerTruncatedOverUDP: tasks.NAME of a big service does not fit
// in 512 bytes: UDP gets the TC bit and the client retries over TCP, which
// gets every address.
func TestLargeAnswerTruncatedOverUDP(t *testing.T) {
	s := serve(t, newResolver(t, Config{}, nil, testSnapshot()), "")
	udp := s.query(t, "udp", fromB, "tasks.big.", dns.TypeA)
	if !udp.Truncated || len(udp.Answer) >= bigTasks {
		t.Errorf("UDP: truncated %v with %d answers, want TC and fewer than %d", udp.Truncated, len(udp.Answer), bigTasks)
	}
	udp.Compress = true // as sent
	if n, _ := udp.Pack(); len(n) > dns.MinMsgSize {
		t.Errorf("UDP answer is %d bytes, want at most %d", len(n), dns.MinMsgSize)
	}
	// A client advertising a larger EDNS buffer gets more, up to 1232 bytes.
	m := new(dns.Msg).SetQuestion("tasks.big.", dns.TypeA)
	m.SetEdns0(4096, false)
	edns, err := s.exchange("udp", fromB, m)
	if err != nil {
		t.Fatal(err)
	}
	if !edns.Truncated || len(edns.Answer) <= len(udp.Answer) {
		t.Errorf("UDP with EDNS 4096: truncated %v with %d answers, want TC and more than %d", edns.Truncated, len(edns.Answer), len(udp.Answer))
	}
	edns.Compress = true
	if b, _ := edns.Pack(); len(b) > maxUDPSize {
		t.Errorf("UDP answer with EDNS is %d bytes, want at most %d", len(b), maxUDPSize)
	}
	tcp := s.query(t, "tcp", fromB, "tasks.big.", dns.TypeA)
	if tcp.Truncated || len(tcp.Answer) != bigTasks {
		t.Errorf("TCP: truncated %v with %d answers, want all %d", tcp.Truncated, len(tcp.Answer), bigTasks)
	}
}

// TestTaskBoundListener: on sockets opened in a task's own namespace every
// query is that task's, whatever its (loopback) source address.
func TestTaskBoundListener(t *testing.T) {
	u := startUpstream(t)
	r := newResolver(t, Config{}, u, testSnapshot())
	inB := serve(t, r, "tb1")
	inX := serve(t, r, "tx1")
	inNew := serve(t, r, "not-yet-in-snapshot")
	for _, proto := range []string{"udp", "tcp"} {
		if got := addrs(inB.query(t, proto, "127.0.0.1", "a.", dns.TypeA)); !slices.Equal(got, []string{"10.0.1.2"}) {
			t.Errorf("%s: task b's socket: a = %v, want the VIP", proto, got)
		}
		if resp := inX.query(t, proto, "127.0.0.1", "st_a.", dns.TypeA); resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: internal task's socket: st_a rcode %s, want SERVFAIL (not shared, not forwarded)", proto, dns.RcodeToString[resp.Rcode])
		}
		if resp := inNew.query(t, proto, "127.0.0.1", "st_a.", dns.TypeA); resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: unknown task's socket: rcode %s, want SERVFAIL", proto, dns.RcodeToString[resp.Rcode])
		}
	}
	if n := u.asked("st_a."); n != 0 {
		t.Errorf("upstream asked st_a %d times, want 0", n)
	}
}

// TestMalformedQueries: queries the resolver does not serve get an error
// rcode, not silence and not a crash.
func TestMalformedQueries(t *testing.T) {
	s := serve(t, newResolver(t, Config{}, nil, testSnapshot()), "")
	m := new(dns.Msg).SetQuestion("st_a.", dns.TypeA)
	m.Opcode = dns.OpcodeStatus
	resp, err := s.exchange("udp", fromB, m)
	if err != nil || resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("STATUS opcode: %v, %v; want NOTIMP", resp, err)
	}
	m = new(dns.Msg).SetQuestion("st_a.", dns.TypeA)
	m.Question[0].Qclass = dns.ClassCHAOS
	resp, err = s.exchange("udp", fromB, m)
	if err != nil || resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("CHAOS class: %v, %v; want NOTIMP", resp, err)
	}
	m = new(dns.Msg).SetQuestion("st_a.", dns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	resp, err = s.exchange("tcp", fromB, m)
	if err != nil || resp.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %v, %v; want FORMERR", resp, err)
	}
}

func TestPTRAddr(t *testing.T) {
	for name, want := range map[string]string{
		"4.3.2.10.in-addr.arpa.":     "10.2.3.4",
		"255.0.0.0.in-addr.arpa.":    "0.0.0.255",
		"4.3.2.in-addr.arpa.":        "",
		"4.3.2.1.0.in-addr.arpa.":    "",
		"256.3.2.10.in-addr.arpa.":   "",
		"04.3.2.10.in-addr.arpa.":    "",
		"x.3.2.10.in-addr.arpa.":     "",
		"..2.10.in-addr.arpa.":       "",
		"4.3.2.10.ip6.arpa.":         "",
		strings.Repeat("1.", 4) + "": "",
	} {
		got, ok := ptrAddr(name)
		if (want == "") == ok || (ok && got.String() != want) {
			t.Errorf("ptrAddr(%q) = %v, %v; want %q", name, got, ok, want)
		}
	}
}
