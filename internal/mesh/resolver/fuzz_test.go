package resolver

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

// FuzzAnswer feeds raw messages to the query handling, as every querier
// kind and over both protocols: it must never panic, and every reply must
// pack and fit the size the query allows.
func FuzzAnswer(f *testing.F) {
	for _, m := range []*dns.Msg{
		new(dns.Msg).SetQuestion("st_a.", dns.TypeA),
		new(dns.Msg).SetQuestion("tasks.big.", dns.TypeA),
		new(dns.Msg).SetQuestion("A.", dns.TypeAAAA),
		new(dns.Msg).SetQuestion("10.1.0.10.in-addr.arpa.", dns.TypePTR),
		new(dns.Msg).SetQuestion("example.com.", dns.TypeMX),
		new(dns.Msg).SetQuestion("tasks.big.", dns.TypeANY).SetEdns0(700, true),
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	r, err := New(Config{Upstreams: []string{}, Logger: discard()})
	if err != nil {
		f.Fatal(err)
	}
	if err := r.Update(testSnapshot()); err != nil {
		f.Fatal(err)
	}
	t := r.table.Load()
	queriers := []*querier{t.byTask["tb1"], t.byTask["tx1"], nil}
	f.Fuzz(func(tt *testing.T, raw []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(raw); err != nil {
			return // the dns server drops what it cannot decode
		}
		for _, q := range queriers {
			for _, proto := range []string{"udp", "tcp"} {
				resp := r.answer(context.Background(), t, req, q, dns.RcodeRefused, proto)
				if resp == nil {
					tt.Fatal("nil reply")
				}
				if resp.Id != req.Id {
					tt.Fatalf("reply ID %d, want %d", resp.Id, req.Id)
				}
				b, err := resp.Pack()
				if err != nil {
					tt.Fatalf("reply does not pack: %v\n%v", err, resp)
				}
				if len(b) > sizeLimit(req, proto) {
					tt.Fatalf("reply is %d bytes over %s, limit %d", len(b), proto, sizeLimit(req, proto))
				}
			}
		}
	})
}
