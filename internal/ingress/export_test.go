package ingress

import (
	"errors"
	"log/slog"
	"time"

	"github.com/shoalproject/shoal/internal/filewatch"
)

// IdleConnsAlive counts the fast path's idle backend connections of the
// current table, and those of them that pass the liveness check.
func IdleConnsAlive(t *Table) (alive, total int) {
	for _, rt := range t.snap.Load().routes {
		for _, b := range rt.pool.backends {
			p := b.conns
			p.mu.Lock()
			for _, bc := range p.idle {
				total++
				if bc.alive() {
					alive++
				}
			}
			p.mu.Unlock()
		}
	}
	return alive, total
}

// OpenConns counts the client connections the fast path has accepted and
// not yet closed.
func OpenConns(p *Proxy) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Handoffs counts the connections the fast path handed to net/http.
func Handoffs(p *Proxy) uint64 { return p.handoffs.Load() }

const MaxPathBytes, MaxHostBytes = maxPathBytes, maxHostBytes

// SlowMiddlewares makes p hand every router with middlewares to the
// net/http path, as before the fast path ran them.
func SlowMiddlewares(p *Proxy) { p.slowMiddlewares = true }

// TransportOnly makes p's net/http path send every request through
// http.Transport, as before rawtrip.go.
func TransportOnly(p *Proxy) { p.rp.Transport.(*forwarder).transportOnly = true }

// NoH2Fast makes p forward HTTP/2 requests with forwardLean only, as
// before h2fast.go; H2Fast counts the requests h2fast.go took.
func NoH2Fast(p *Proxy)      { p.noH2Fast = true }
func H2Fast(p *Proxy) uint64 { return p.h2fast.Load() }

// Inflight sums the requests the current table's backends count as in
// flight.
func Inflight(t *Table) (n int64) {
	for _, rt := range t.snap.Load().routes {
		for _, b := range rt.pool.backends {
			n += b.inflight.Load()
		}
	}
	return n
}

// FailWatcher makes r's Run unable to watch files, as when the user's
// inotify instances are used up.
func FailWatcher(r *TLSReloader) {
	r.newWatcher = func(time.Duration, *slog.Logger) (*filewatch.Watcher, error) {
		return nil, errors.New("too many open files")
	}
}
