package resolver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// upstream is a fake upstream resolver on loopback: it records every name it
// is asked, answers "example.com." with 192.0.2.1 and every other name with
// NXDOMAIN. Set hold to make it wait before answering.
type upstream struct {
	addr string
	mu   sync.Mutex
	seen map[string]int
	hold chan struct{}
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{seen: make(map[string]int)}
	// The resolver forwards over the protocol it was asked on, to the same
	// address: find a port free for both.
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ln == nil; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
			_ = pc.Close()
			if i == 20 {
				t.Fatal(err)
			}
		}
	}
	u.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		name := req.Question[0].Name
		u.mu.Lock()
		u.seen[name]++
		hold := u.hold
		u.mu.Unlock()
		if hold != nil {
			<-hold
		}
		resp := new(dns.Msg).SetReply(req)
		if name == "example.com." && req.Question[0].Qtype == dns.TypeA {
			resp.Answer = append(resp.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(192, 0, 2, 1),
			})
		} else {
			resp.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(resp)
	})
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	serveForTest(t, udp)
	serveForTest(t, tcp)
	return u
}

// serveForTest runs s until the test ends.
func serveForTest(t *testing.T, s *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	done := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go func() {
		defer close(done)
		_ = s.ActivateAndServe()
	}()
	<-started
	t.Cleanup(func() {
		_ = s.Shutdown()
		<-done
	})
}

// asked is how many times the upstream was asked name.
func (u *upstream) asked(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[name]
}

// served is a Resolver serving on loopback until the test ends.
type served struct {
	r   *Resolver
	udp string
	tcp string
}

// loopbackSockets is a fresh UDP socket and TCP listener on loopback.
func loopbackSockets(t *testing.T) (net.PacketConn, net.Listener) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return pc, ln
}

// serve starts r on a fresh loopback UDP socket and TCP listener.
func serve(t *testing.T, r *Resolver, task string) served {
	t.Helper()
	pc, ln := loopbackSockets(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, Listener{UDP: pc, TCP: ln, Task: task}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return served{r: r, udp: pc.LocalAddr().String(), tcp: ln.Addr().String()}
}

// newResolver makes a Resolver forwarding to u (none if nil) with snap.
func newResolver(t *testing.T, cfg Config, u *upstream, snap Snapshot) *Resolver {
	t.Helper()
	cfg.Upstreams = []string{}
	if cfg.Logger == nil {
		cfg.Logger = discard()
	}
	if u != nil {
		cfg.Upstreams = []string{u.addr}
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Update(snap); err != nil {
		t.Fatal(err)
	}
	return r
}

// query asks name (type qtype) from source address src over proto. src is a
// loopback address, which stands for a task's address in the snapshot.
func (s served) query(t *testing.T, proto, src, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg).SetQuestion(name, qtype)
	resp, err := s.exchange(proto, src, m)
	if err != nil {
		t.Fatalf("query %s %s from %s over %s: %v", name, dns.TypeToString[qtype], src, proto, err)
	}
	return resp
}

func (s served) exchange(proto, src string, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: proto, Timeout: 5 * time.Second}
	addr := s.udp
	ip := net.ParseIP(src)
	if proto == "tcp" {
		addr = s.tcp
		c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	} else {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: ip}, Timeout: 5 * time.Second}
	}
	resp, _, err := c.Exchange(m, addr)
	return resp, err
}

// addrs is the set of A addresses in resp's answer.
func addrs(resp *dns.Msg) []string {
	var out []string
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// Querier task addresses are on loopback (127.0.1.x) so the tests can send
// from them; the other addresses only appear in answers.
const (
	fromB        = "127.0.1.2" // task of st_b: on appnet with st_a, st_rr, big
	fromOther    = "127.0.1.3" // task of other_q: on appnet, another stack
	fromInternal = "127.0.1.4" // task of iso_x: on the internal network only
	fromStranger = "127.0.0.1" // no task
)

// testSnapshot is a stack "st" (a, b, rr) on appnet, a stack "other" with
// one service on appnet and one on its own network, and a service on an
// internal network only.
func testSnapshot() Snapshot {
	s := Snapshot{
		Networks: []Network{
			{ID: "n-app", Name: "st_appnet"},
			{ID: "n-other", Name: "other_net"},
			{ID: "n-int", Name: "secret", Internal: true},
		},
		Services: []Service{
			{ID: "s-a", Name: "st_a", Stack: "st", Networks: []ServiceNetwork{
				{Network: "n-app", VIP: ip("10.0.1.2"), Aliases: []string{"alpha"}},
			}},
			{ID: "s-b", Name: "st_b", Stack: "st", EndpointMode: EndpointVIP, Networks: []ServiceNetwork{
				{Network: "n-app", VIP: ip("10.0.1.3")},
			}},
			{ID: "s-rr", Name: "st_rr", Stack: "st", EndpointMode: EndpointDNSRR, Networks: []ServiceNetwork{
				{Network: "n-app"},
			}},
			{ID: "s-big", Name: "st_big", Stack: "st", Networks: []ServiceNetwork{
				{Network: "n-app", VIP: ip("10.0.1.4")},
			}},
			{ID: "s-q", Name: "other_q", Stack: "other", Networks: []ServiceNetwork{
				{Network: "n-app", VIP: ip("10.0.1.5")},
			}},
			{ID: "s-c", Name: "other_c", Stack: "other", Networks: []ServiceNetwork{
				{Network: "n-other", VIP: ip("10.0.3.2")},
			}},
			{ID: "s-x", Name: "iso_x", Networks: []ServiceNetwork{
				{Network: "n-int", VIP: ip("10.0.4.2")},
			}},
		},
		Tasks: []Task{
			{ID: "ta1", Service: "s-a", Name: "st_a.1.ta1", Ready: true, Networks: []TaskAddress{{"n-app", ip("10.0.1.10")}}},
			{ID: "ta2", Service: "s-a", Name: "st_a.2.ta2", Ready: true, Networks: []TaskAddress{{"n-app", ip("10.0.1.11")}}},
			// Unhealthy, starting or being stopped: not in answers.
			{ID: "ta3", Service: "s-a", Name: "st_a.3.ta3", Ready: false, Networks: []TaskAddress{{"n-app", ip("10.0.1.12")}}},
			{ID: "tb1", Service: "s-b", Ready: true, Networks: []TaskAddress{{"n-app", ip(fromB)}}},
			{ID: "rr1", Service: "s-rr", Ready: true, Networks: []TaskAddress{{"n-app", ip("10.0.1.20")}}},
			{ID: "rr2", Service: "s-rr", Ready: true, Networks: []TaskAddress{{"n-app", ip("10.0.1.21")}}},
			{ID: "rr3", Service: "s-rr", Ready: false, Networks: []TaskAddress{{"n-app", ip("10.0.1.22")}}},
			{ID: "tq1", Service: "s-q", Ready: true, Networks: []TaskAddress{{"n-app", ip(fromOther)}}},
			{ID: "tc1", Service: "s-c", Ready: true, Networks: []TaskAddress{{"n-other", ip("10.0.3.10")}}},
			{ID: "tx1", Service: "s-x", Ready: true, Networks: []TaskAddress{{"n-int", ip(fromInternal)}}},
		},
	}
	for i := range bigTasks {
		s.Tasks = append(s.Tasks, Task{
			ID: fmt.Sprintf("big%d", i), Service: "s-big", Ready: true,
			Networks: []TaskAddress{{"n-app", netip.AddrFrom4([4]byte{10, 0, 2, byte(i + 1)})}},
		})
	}
	return s
}

// bigTasks is more ready tasks than fit in a 512-byte UDP answer.
const bigTasks = 100

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
