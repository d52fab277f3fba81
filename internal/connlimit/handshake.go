package connlimit

import (
	"container/list"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Default bounds of a Handshakes' zero value.
const (
	DefaultMaxHandshakes      = 128
	DefaultMaxHandshakesPerIP = 16
)

// Handshakes bounds the connections whose TLS handshake is unfinished,
// apart from the established ones, so that whoever reaches a port
// cannot hold every place with connections that never authenticate
// (one that just connects and waits costs an attacker nothing). Past a
// bound, an unfinished handshake is closed to make room: a client that
// completes its handshake in milliseconds still gets in while others sit
// on theirs. Past the bound per source (an address, an IPv6 /64) the
// source's own oldest goes; past Max, the oldest of the source holding
// the most places: a few sources that fill the pool together evict their
// own handshakes, not the lone one of another (only as many sources as
// places, each holding one, can). Its zero value uses the defaults.
type Handshakes struct {
	// Max is the most unfinished handshakes at once, MaxPerIP the most
	// from one source (an address; an IPv6 /64).
	Max, MaxPerIP int
	// Log, when set, is warned (at most once a minute) that handshakes
	// are being cut off, with Name.
	Log  *slog.Logger
	Name string

	mu      sync.Mutex
	pending list.List // of *Pending, oldest first
	perIP   map[string]int
	evicted atomic.Uint64
	warned  warner
}

// Pending is one unfinished handshake's place.
type Pending struct {
	h  *Handshakes
	c  net.Conn
	ip string
	el *list.Element // nil once ended or evicted
}

// Begin takes a place for c's handshake, closing an unfinished one when
// there is none left: the oldest of c's source when it holds MaxPerIP,
// else the oldest of the source holding the most. End must be
// called once the handshake is over, whichever way.
func (h *Handshakes) Begin(c net.Conn) *Pending {
	p := &Pending{h: h, c: c, ip: sourceIP(c)}
	var evict []net.Conn
	h.mu.Lock()
	if h.perIP == nil {
		h.perIP = map[string]int{}
	}
	if h.perIP[p.ip] >= h.maxPerIP() {
		evict = append(evict, h.removeOldest(p.ip))
	}
	if h.pending.Len() >= h.max() {
		evict = append(evict, h.removeOldest(h.busiest()))
	}
	p.el = h.pending.PushBack(p)
	h.perIP[p.ip]++
	h.mu.Unlock()
	for _, c := range evict {
		if c != nil {
			_ = c.Close()
			h.noteEvicted()
		}
	}
	return p
}

// End gives the place back; the connection is the caller's to close or
// keep.
func (p *Pending) End() {
	h := p.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if p.el != nil {
		h.remove(p)
	}
}

// Pending is the number of unfinished handshakes.
func (h *Handshakes) Pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pending.Len()
}

// Evicted is the number of handshakes cut off to make room so far.
func (h *Handshakes) Evicted() uint64 { return h.evicted.Load() }

// busiest is the source holding the most places; of those tied, the one
// whose handshake is the oldest.
func (h *Handshakes) busiest() string {
	most := 0
	for _, n := range h.perIP {
		most = max(most, n)
	}
	for el := h.pending.Front(); el != nil; el = el.Next() {
		if p := el.Value.(*Pending); h.perIP[p.ip] == most {
			return p.ip
		}
	}
	return ""
}

// removeOldest takes the oldest unfinished handshake of source ip out of
// the pool and returns its connection.
func (h *Handshakes) removeOldest(ip string) net.Conn {
	for el := h.pending.Front(); el != nil; el = el.Next() {
		p := el.Value.(*Pending)
		if p.ip == ip {
			h.remove(p)
			return p.c
		}
	}
	return nil
}

func (h *Handshakes) remove(p *Pending) {
	h.pending.Remove(p.el)
	p.el = nil
	if h.perIP[p.ip]--; h.perIP[p.ip] <= 0 {
		delete(h.perIP, p.ip)
	}
}

func (h *Handshakes) noteEvicted() {
	n := h.evicted.Add(1)
	h.warned.warn(h.Log, h.Name+": too many unfinished TLS handshakes; closing the oldest",
		"max_handshakes", h.max(), "max_per_address", h.maxPerIP(), "evicted_total", n)
}

func (h *Handshakes) max() int {
	if h.Max > 0 {
		return h.Max
	}
	return DefaultMaxHandshakes
}

func (h *Handshakes) maxPerIP() int {
	if h.MaxPerIP > 0 {
		return min(h.MaxPerIP, h.max())
	}
	return min(DefaultMaxHandshakesPerIP, h.max())
}

// sourceIP is the source c is counted under: its address without the
// port, an IPv4 address seen on a dual-stack listener (::ffff:a.b.c.d)
// as itself, and an IPv6 address as its /64: one host commonly holds a
// whole /64 (SLAAC, a cloud's prefix per machine), and counted per
// address it could take every place.
func sourceIP(c net.Conn) string {
	a := c.RemoteAddr()
	if a == nil {
		return ""
	}
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	if !ip.IsValid() {
		return a.String()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
