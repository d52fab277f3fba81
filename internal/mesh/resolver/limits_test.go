package resolver

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestTCPConnectionLimit: connections over MaxTCPConns are closed at once,
// and a slot frees when a connection closes.
func TestTCPConnectionLimit(t *testing.T) {
	s := serve(t, newResolver(t, Config{MaxTCPConns: 2}, nil, testSnapshot()), "")
	var held []net.Conn
	for range 2 {
		c := dialTCP(t, s.tcp)
		held = append(held, c)
		// A query on it proves it was accepted, not just queued.
		co := &dns.Conn{Conn: c}
		if err := co.WriteMsg(new(dns.Msg).SetQuestion("st_a.", dns.TypeA)); err != nil {
			t.Fatal(err)
		}
		if _, err := co.ReadMsg(); err != nil {
			t.Fatalf("query within the limit: %v", err)
		}
	}
	over := dialTCP(t, s.tcp)
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection over the limit: read %v, want EOF (closed by the server)", err)
	}
	_ = held[0].Close()
	// The slot is freed once the server sees the close; retry until then.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := s.exchange("tcp", fromB, new(dns.Msg).SetQuestion("st_a.", dns.TypeA))
		if err == nil && len(resp.Answer) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TCP query served after a connection closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// UDP is not affected by the TCP limit.
	if got := addrs(s.query(t, "udp", fromB, "st_a.", dns.TypeA)); len(got) != 1 {
		t.Errorf("UDP with TCP slots taken: %v", got)
	}
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP(fromB)}, net.TCPAddrFromAddrPort(mustAddrPort(addr)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestIdleTCPConnectionClosed: a connection that sends no query is closed
// after QueryTimeout, so it cannot hold a slot.
func TestIdleTCPConnectionClosed(t *testing.T) {
	s := serve(t, newResolver(t, Config{QueryTimeout: 200 * time.Millisecond}, nil, testSnapshot()), "")
	c := dialTCP(t, s.tcp)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("idle connection closed after %v, want about 200ms", d)
	}
}

// TestForwardTimeout: an upstream that never answers costs the client
// ForwardTimeout, then SERVFAIL.
func TestForwardTimeout(t *testing.T) {
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	r, err := New(Config{Upstreams: []string{silent.LocalAddr().String()}, ForwardTimeout: 200 * time.Millisecond, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Update(testSnapshot()); err != nil {
		t.Fatal(err)
	}
	s := serve(t, r, "")
	start := time.Now()
	resp := s.query(t, "udp", fromB, "example.com.", dns.TypeA)
	if resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("rcode %s, want SERVFAIL", dns.RcodeToString[resp.Rcode])
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("answered after %v, want about the 200ms forward timeout", d)
	}
}

// TestForwardLimit: queries over MaxForwards in flight get REFUSED at once
// instead of queueing; cluster names are still answered.
func TestForwardLimit(t *testing.T) {
	u := startUpstream(t)
	hold := make(chan struct{})
	u.mu.Lock()
	u.hold = hold
	u.mu.Unlock()
	s := serve(t, newResolver(t, Config{MaxForwards: 1}, u, testSnapshot()), "")
	first := make(chan *dns.Msg, 1)
	go func() {
		resp, _ := s.exchange("udp", fromB, new(dns.Msg).SetQuestion("example.com.", dns.TypeA))
		first <- resp
	}()
	// Wait until the first query is held by the upstream.
	for u.asked("example.com.") == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if resp := s.query(t, "udp", fromB, "example.org.", dns.TypeA); resp.Rcode != dns.RcodeRefused {
		t.Errorf("second forward: rcode %s, want REFUSED", dns.RcodeToString[resp.Rcode])
	}
	if got := addrs(s.query(t, "udp", fromB, "st_a.", dns.TypeA)); len(got) != 1 {
		t.Errorf("cluster name while forwards are full: %v", got)
	}
	close(hold)
	if resp := <-first; resp == nil || !slices.Equal(addrs(resp), []string{"192.0.2.1"}) {
		t.Errorf("first forward: %v, want 192.0.2.1", resp)
	}
}

// TestForwardTriesNextUpstream: an upstream that fails (SERVFAIL, or down)
// is skipped for the next one.
func TestForwardTriesNextUpstream(t *testing.T) {
	failing := startFixedUpstream(t, dns.RcodeServerFailure)
	down, err := net.ListenPacket("udp", "127.0.0.1:0") // bound, so nothing else takes it
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.LocalAddr().String()
	_ = down.Close()
	u := startUpstream(t)
	r, err := New(Config{Upstreams: []string{failing, downAddr, u.addr}, ForwardTimeout: time.Second, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Update(testSnapshot()); err != nil {
		t.Fatal(err)
	}
	s := serve(t, r, "")
	if got := addrs(s.query(t, "udp", fromB, "example.com.", dns.TypeA)); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("answer %v, want the third upstream's 192.0.2.1", got)
	}
}

// startFixedUpstream answers every query with rcode.
func startFixedUpstream(t *testing.T, rcode int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveForTest(t, &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		_ = w.WriteMsg(new(dns.Msg).SetRcode(req, rcode))
	})})
	return pc.LocalAddr().String()
}

// TestUpstreamsFromResolvConf: without Upstreams the node's resolv.conf is
// read; loopback stubs are kept, since the resolver runs in the host's
// namespace where they answer.
func TestUpstreamsFromResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "# generated\nnameserver 127.0.0.53\nnameserver 10.1.2.3\nsearch example.org\noptions edns0 trust-ad\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{ResolvConf: p, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Upstreams(), []string{"127.0.0.53:53", "10.1.2.3:53"}; !slices.Equal(got, want) {
		t.Errorf("upstreams %v, want %v", got, want)
	}
	if _, err := New(Config{ResolvConf: filepath.Join(t.TempDir(), "missing"), Logger: discard()}); err == nil {
		t.Error("missing resolv.conf: no error")
	}
}

func TestBadUpstreamRefused(t *testing.T) {
	for _, up := range []string{"dns.example.com:53", "10.0.0.1", ""} {
		if _, err := New(Config{Upstreams: []string{up}, Logger: discard()}); err == nil {
			t.Errorf("upstream %q: no error", up)
		}
	}
}

// TestServeErrors: Serve with nothing to serve, or on a socket that fails,
// returns an error instead of hanging, and leaves no goroutine behind.
func TestServeErrors(t *testing.T) {
	r := newResolver(t, Config{}, nil, testSnapshot())
	if err := r.Serve(t.Context(), Listener{}); err == nil {
		t.Error("no sockets: no error")
	}
	pc, ln := loopbackSockets(t)
	_ = pc.Close()
	done := make(chan error, 1)
	go func() { done <- r.Serve(t.Context(), Listener{UDP: pc, TCP: ln}) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("closed UDP socket: no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve on a closed socket did not return")
	}
}
