package resolver

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// TestUpdateSwapsAtomically: while snapshots alternate under concurrent
// queries, every answer is wholly the old one or wholly the new one.
func TestUpdateSwapsAtomically(t *testing.T) {
	old, next := testSnapshot(), testSnapshot()
	// In next, st_a's tasks are replaced and its VIP moves.
	next.Services[0].Networks[0].VIP = ip("10.0.1.99")
	for i := range next.Tasks {
		switch next.Tasks[i].ID {
		case "ta1":
			next.Tasks[i].Networks[0].Addr = ip("10.0.1.110")
		case "ta2":
			next.Tasks[i].Networks[0].Addr = ip("10.0.1.111")
		}
	}
	r := newResolver(t, Config{}, nil, old)
	s := serve(t, r, "")
	valid := map[string][][]string{
		"tasks.a.": {{"10.0.1.10", "10.0.1.11"}, {"10.0.1.110", "10.0.1.111"}},
		"a.":       {{"10.0.1.2"}, {"10.0.1.99"}},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var queries atomic.Int64
	for _, proto := range []string{"udp", "tcp"} {
		for name, sets := range valid {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					m := new(dns.Msg).SetQuestion(name, dns.TypeA)
					resp, err := s.exchange(proto, fromB, m)
					if err != nil {
						t.Errorf("%s %s: %v", proto, name, err)
						return
					}
					got := addrs(resp)
					slices.Sort(got)
					if !slices.ContainsFunc(sets, func(w []string) bool { return slices.Equal(w, got) }) {
						t.Errorf("%s %s: answer %v is neither snapshot's %v", proto, name, got, sets)
						return
					}
					queries.Add(1)
				}
			})
		}
	}
	// Swap at least 400 times and until 200 answers were checked, unless a
	// querier gave up (and reported why).
	failed := make(chan struct{})
	go func() { wg.Wait(); close(failed) }()
	for i := 0; i < 400 || queries.Load() < 200; i++ {
		select {
		case <-failed:
			t.Fatal("queriers stopped early")
		default:
		}
		snap := old
		if i%2 == 1 {
			snap = next
		}
		if err := r.Update(snap); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-failed
}

// TestUpdateRejectsInconsistentSnapshot: a bad snapshot is refused with an
// error naming the problem, and the previous one keeps answering.
func TestUpdateRejectsInconsistentSnapshot(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(s *Snapshot)
		want   string
	}{
		{"duplicate network", func(s *Snapshot) { s.Networks = append(s.Networks, s.Networks[0]) }, "network n-app: listed twice"},
		{"empty network ID", func(s *Snapshot) { s.Networks[0].ID = "" }, "empty ID"},
		{"unknown endpoint mode", func(s *Snapshot) { s.Services[0].EndpointMode = "ipvs" }, `service st_a: unknown endpoint mode "ipvs"`},
		{"service on unknown network", func(s *Snapshot) { s.Services[0].Networks[0].Network = "nope" }, `service st_a: unknown network "nope"`},
		{"bad alias", func(s *Snapshot) { s.Services[0].Networks[0].Aliases = []string{"a..b"} }, `alias "a..b"`},
		{"IPv6 VIP", func(s *Snapshot) { s.Services[0].Networks[0].VIP = ip("fd00::1") }, "is not IPv4"},
		{"task of unknown service", func(s *Snapshot) { s.Tasks[0].Service = "gone" }, `task ta1: unknown service "gone"`},
		{"task on unknown network", func(s *Snapshot) { s.Tasks[0].Networks[0].Network = "nope" }, `task ta1: unknown network "nope"`},
		{"duplicate address", func(s *Snapshot) { s.Tasks[1].Networks[0].Addr = s.Tasks[0].Networks[0].Addr }, "task ta2: address 10.0.1.10 is already another task's"},
		{"invalid address", func(s *Snapshot) { s.Tasks[0].Networks[0].Addr = netip.Addr{} }, "task ta1: address invalid IP"},
		{"duplicate task", func(s *Snapshot) { s.Tasks[1].ID = "ta1" }, "task ta1: listed twice"},
	}
	r := newResolver(t, Config{}, nil, testSnapshot())
	s := serve(t, r, "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := testSnapshot()
			c.break_(&snap)
			err := r.Update(snap)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Update: %v, want an error containing %q", err, c.want)
			}
			if got := addrs(s.query(t, "udp", fromB, "a.", dns.TypeA)); !slices.Equal(got, []string{"10.0.1.2"}) {
				t.Errorf("after a refused update a = %v, want the previous snapshot's VIP", got)
			}
		})
	}
}

// TestVIPNotYetAllocated: a vip service whose VIP is not allocated yet
// exists (empty answer, not forwarded) rather than leaking upstream.
func TestVIPNotYetAllocated(t *testing.T) {
	u := startUpstream(t)
	snap := testSnapshot()
	snap.Services[0].Networks[0].VIP = netip.Addr{}
	s := serve(t, newResolver(t, Config{}, u, snap), "")
	resp := s.query(t, "udp", fromB, "a.", dns.TypeA)
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 || u.asked("a.") != 0 {
		t.Errorf("a without a VIP: rcode %s, %d answers, upstream asked %d times; want NOERROR, none, 0",
			dns.RcodeToString[resp.Rcode], len(resp.Answer), u.asked("a."))
	}
}

// TestSharedAliasAnswersAll: two services with the same alias on a network
// both answer it (Docker does the same); the querier's own stack's
// stack-local name wins over another stack's alias.
func TestSharedAliasAnswersAll(t *testing.T) {
	snap := testSnapshot()
	snap.Services[0].Networks[0].Aliases = []string{"db"}
	snap.Services[4].Networks[0].Aliases = []string{"db", "b"} // other_q
	s := serve(t, newResolver(t, Config{}, nil, snap), "")
	got := addrs(s.query(t, "udp", fromB, "db.", dns.TypeA))
	slices.Sort(got)
	if want := []string{"10.0.1.2", "10.0.1.5"}; !slices.Equal(got, want) {
		t.Errorf("db = %v, want both services' VIPs %v", got, want)
	}
	if got := addrs(s.query(t, "udp", fromB, "b.", dns.TypeA)); !slices.Equal(got, []string{"10.0.1.3"}) {
		t.Errorf("b from stack st = %v, want st_b's VIP, not other_q's alias", got)
	}
	if got := addrs(s.query(t, "udp", fromOther, "b.", dns.TypeA)); !slices.Equal(got, []string{"10.0.1.5"}) {
		t.Errorf("b from stack other = %v, want other_q's alias", got)
	}
}
