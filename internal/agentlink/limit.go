package agentlink

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// RegisterLimits bound how fast agents may register: per source address
// and in all. A node registers once per session, and again after a
// broken one with a backoff (100ms doubling to 5s), so an honest agent
// stays far below PerAddr; a flood with the join token does not, and
// each registration is a Raft write and a session.
type RegisterLimits struct {
	// PerAddr is the rate allowed from one IPv4 address or IPv6 /64 (all
	// loopback addresses count as one), with bursts of PerAddrBurst.
	// Defaults: 1/s, 10.
	PerAddr      rate.Limit
	PerAddrBurst int
	// Total is the rate allowed from everyone, with bursts of
	// TotalBurst: it must let every node of a full cluster
	// (dispatcher.DefaultMaxNodes) register again after a manager
	// restart, before it is marked down (a new leader gives the nodes
	// it finds ready twice 3 heartbeat periods, 9s).
	// Defaults: 100/s, 500.
	Total      rate.Limit
	TotalBurst int
}

// Defaults of RegisterLimits.
const (
	DefaultRegisterPerAddr      rate.Limit = 1
	DefaultRegisterPerAddrBurst            = 10
	DefaultRegisterTotal        rate.Limit = 100
	DefaultRegisterTotalBurst              = 500
)

// maxTrackedAddrs bounds the per-address limiters kept: beyond it, those
// that have refilled (the address has been quiet) are forgotten, and new
// addresses wait while none has.
const maxTrackedAddrs = 4096

// registerLimiter applies RegisterLimits.
type registerLimiter struct {
	perAddr rate.Limit
	burst   int
	total   *rate.Limiter

	mu    sync.Mutex
	addrs map[netip.Prefix]*rate.Limiter
}

func newRegisterLimiter(l RegisterLimits) *registerLimiter {
	if l.PerAddr <= 0 {
		l.PerAddr = DefaultRegisterPerAddr
	}
	if l.PerAddrBurst <= 0 {
		l.PerAddrBurst = DefaultRegisterPerAddrBurst
	}
	if l.Total <= 0 {
		l.Total = DefaultRegisterTotal
	}
	if l.TotalBurst <= 0 {
		l.TotalBurst = DefaultRegisterTotalBurst
	}
	return &registerLimiter{perAddr: l.PerAddr, burst: l.PerAddrBurst, total: rate.NewLimiter(l.Total, l.TotalBurst),
		addrs: map[netip.Prefix]*rate.Limiter{}}
}

// allow takes a registration from ip, or returns how long to wait before
// the next one may succeed.
func (l *registerLimiter) allow(ip netip.Addr, now time.Time) (ok bool, retry time.Duration) {
	key := hostKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.addrs[key]
	if lim == nil {
		if len(l.addrs) >= maxTrackedAddrs {
			for k, v := range l.addrs {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.addrs, k)
				}
			}
			if len(l.addrs) >= maxTrackedAddrs {
				return false, time.Second
			}
		}
		lim = rate.NewLimiter(l.perAddr, l.burst)
		l.addrs[key] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	g := l.total.ReserveN(now, 1)
	if d := g.DelayFrom(now); d > 0 {
		g.CancelAt(now)
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// loopbackKey is the one key of every loopback address.
var loopbackKey = netip.MustParsePrefix("127.0.0.0/8")

// hostKey names the host an address belongs to, as far as the limiter
// can tell: an IPv4 address, an IPv6 /64 (one host has a /64 to pick
// addresses from), and all loopback addresses together, since Linux
// answers on every address of 127.0.0.0/8, and on ::1, without any
// setup.
func hostKey(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return loopbackKey
	}
	bits := 32
	if !ip.Is4() {
		bits = 64
	}
	key, _ := ip.Prefix(bits)
	return key
}
