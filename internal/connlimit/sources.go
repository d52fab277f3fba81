package connlimit

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
)

// Sources bounds the connections held at once from each source (an
// address, an IPv6 /64: see sourceIP), for the connections a limit of
// all (Limiter) would otherwise let one source fill: those of clients
// that showed no certificate, which may hold theirs as long as they keep
// asking. Its zero value bounds nothing.
type Sources struct {
	// Max is the most connections from one source; 0 is unbounded.
	Max int
	// Log, when set, is warned (at most once a minute) that connections
	// are being refused, with Name.
	Log  *slog.Logger
	Name string

	mu      sync.Mutex
	held    map[string]int
	refused atomic.Uint64
	warned  warner
}

// Admit counts c against its source. It returns the function that gives
// the place back (once, whoever calls it how often), or false when the
// source holds Max already: c is then the caller's to close.
func (s *Sources) Admit(c net.Conn) (release func(), ok bool) {
	if s.Max <= 0 {
		return func() {}, true
	}
	ip := sourceIP(c)
	s.mu.Lock()
	if s.held[ip] >= s.Max {
		s.mu.Unlock()
		s.noteRefused()
		return nil, false
	}
	if s.held == nil {
		s.held = map[string]int{}
	}
	s.held[ip]++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.held[ip]--; s.held[ip] <= 0 {
				delete(s.held, ip)
			}
		})
	}, true
}

// Held is the number of connections counted now.
func (s *Sources) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, k := range s.held {
		n += k
	}
	return n
}

// Refused is the number of connections refused so far.
func (s *Sources) Refused() uint64 { return s.refused.Load() }

func (s *Sources) noteRefused() {
	n := s.refused.Add(1)
	s.warned.warn(s.Log, s.Name+": too many connections from one source; closing new ones",
		"max_per_source", s.Max, "refused_total", n)
}
