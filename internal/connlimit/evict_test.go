package connlimit_test

import (
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/shoalproject/shoal/internal/connlimit"
)

// addrConn is a connection from addr that notes its Close.
type addrConn struct {
	net.Conn
	addr   net.Addr
	closed atomic.Bool
}

func (c *addrConn) RemoteAddr() net.Addr { return c.addr }
func (c *addrConn) Close() error         { c.closed.Store(true); return nil }

func from(ip string) *addrConn {
	return &addrConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
}

// An IPv6 host holds a whole /64 (SLAAC, a cloud's prefix per machine):
// counted per address, each of its connections would be another source,
// and the bound per source would not keep it from evicting the others'
// handshakes.
func TestHandshakesOneIPv6PrefixIsOneSource(t *testing.T) {
	hs := &connlimit.Handshakes{Max: 8, MaxPerIP: 4}
	victim := from("192.0.2.1")
	hs.Begin(victim)
	for i := range 100 {
		hs.Begin(from(fmt.Sprintf("2001:db8::%x", i+1)))
	}
	if victim.closed.Load() {
		t.Error("a handshake of 192.0.2.1 was evicted by 100 connections from one /64")
	}
	if n := hs.Pending(); n != 5 {
		t.Errorf("%d handshakes pending, want 1 of 192.0.2.1 and 4 of 2001:db8::/64", n)
	}
}

// A few addresses that together fill the pool evict their own
// handshakes, not the lone one of another address: the place freed is
// taken from the address holding the most.
func TestHandshakesFullPoolEvictsFromTheBusiestSource(t *testing.T) {
	hs := &connlimit.Handshakes{Max: 8, MaxPerIP: 4}
	victim := from("192.0.2.1")
	hs.Begin(victim)
	attackers := []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}
	for i := range 100 {
		hs.Begin(from(attackers[i%len(attackers)]))
	}
	if victim.closed.Load() {
		t.Error("the lone handshake of 192.0.2.1 was evicted by 3 addresses that filled the pool")
	}
	if n := hs.Pending(); n != 8 {
		t.Errorf("%d handshakes pending, want 8", n)
	}
}

// An IPv4 client seen on a dual-stack listener (::ffff:a.b.c.d) is the
// same source as on an IPv4 one.
func TestHandshakesIPv4MappedIsTheIPv4Source(t *testing.T) {
	hs := &connlimit.Handshakes{Max: 8, MaxPerIP: 2}
	first := from("::ffff:192.0.2.7")
	hs.Begin(first)
	hs.Begin(from("192.0.2.7"))
	hs.Begin(from("192.0.2.7"))
	if !first.closed.Load() {
		t.Error("::ffff:192.0.2.7 and 192.0.2.7 were counted as two sources")
	}
}

// An evicted handshake's End, after its place went to another, gives
// back nothing (a double release would let the pool grow past Max).
func TestHandshakesEndAfterEviction(t *testing.T) {
	hs := &connlimit.Handshakes{Max: 2, MaxPerIP: 2}
	first := hs.Begin(from("192.0.2.1"))
	second := hs.Begin(from("192.0.2.1"))
	third := hs.Begin(from("192.0.2.1"))
	first.End()
	first.End()
	if n := hs.Pending(); n != 2 {
		t.Fatalf("%d pending after an evicted handshake's End, want 2", n)
	}
	second.End()
	third.End()
	third.End()
	if n := hs.Pending(); n != 0 {
		t.Fatalf("%d pending after every End, want 0", n)
	}
}

// Sources holds at most Max connections of one source, counting an IPv6
// /64 as one, and a release given twice frees one place.
func TestSourcesBoundEachSource(t *testing.T) {
	s := &connlimit.Sources{Max: 2}
	var releases []func()
	for i := range 3 {
		release, ok := s.Admit(from(fmt.Sprintf("2001:db8::%x", i+1)))
		if ok != (i < 2) {
			t.Fatalf("connection %d of one /64 admitted: %v", i, ok)
		}
		if ok {
			releases = append(releases, release)
		}
	}
	if _, ok := s.Admit(from("192.0.2.1")); !ok {
		t.Fatal("another source was refused")
	}
	releases[0]()
	releases[0]()
	if n := s.Held(); n != 2 {
		t.Fatalf("%d held after a release given twice, want 2", n)
	}
	if _, ok := s.Admit(from("2001:db8::ff")); !ok {
		t.Fatal("the place released was not given again")
	}
	if _, ok := s.Admit(from("2001:db8::fe")); ok {
		t.Fatal("a third connection of the /64 was admitted")
	}
	if s.Refused() != 2 {
		t.Errorf("refused %d, want 2", s.Refused())
	}
}
