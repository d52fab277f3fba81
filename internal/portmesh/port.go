package portmesh

import (
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/shoalproject/shoal/api"
)

// port is one published port: its listener, when bound, and the pool of
// the service it forwards to.
type port struct {
	key       portKey
	serviceID string
	name      string
	target    api.PortConfig
	pool      atomic.Pointer[pool]

	// Set by listen, cleared by close (under Mesh.mu).
	tcp  net.Listener
	udp  *udpPort
	done chan struct{}
	// lastErr is the last bind failure logged, so that each retry of a
	// port held by another program does not log the same line again.
	lastErr string
}

func (p *port) bound() bool { return p.tcp != nil || p.udp != nil }

func (p *port) setPool(pl *pool) { p.pool.Store(pl) }

// listen binds the port; a failure is logged (once per distinct error)
// and the next reconcile tries again. Mesh.mu held.
func (m *Mesh) listen(p *port) {
	addr := net.JoinHostPort(m.opts.Addr, strconv.Itoa(int(p.key.port)))
	var err error
	p.done = make(chan struct{})
	switch p.key.proto {
	case "tcp":
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			p.tcp = ln
			m.wg.Add(1)
			go m.serveTCP(p, ln, p.done)
		}
	case "udp":
		var pc *net.UDPConn
		if pc, err = listenUDP(addr); err == nil {
			p.udp = newUDPPort(pc)
			m.wg.Add(1)
			go m.serveUDP(p, p.udp)
		}
	}
	if err != nil {
		if err.Error() != p.lastErr {
			m.log.Error("published port: cannot listen; trying again on the next change of the cluster",
				"port", p.key.String(), "service", p.name, "addr", addr, "err", err)
		}
		p.lastErr = err.Error()
		return
	}
	if p.lastErr != "" {
		m.log.Info("published port: listening now", "port", p.key.String(), "service", p.name, "addr", addr)
	}
	p.lastErr = ""
}

// close stops listening; connections already forwarded go on until they
// end (or the mesh closes). Mesh.mu held.
func (p *port) close() {
	if p.done != nil {
		close(p.done)
		p.done = nil
	}
	if p.tcp != nil {
		_ = p.tcp.Close()
		p.tcp = nil
	}
	if p.udp != nil {
		p.udp.close()
		p.udp = nil
	}
}

// pool is an immutable set of backends, swapped whole on each change.
type pool struct {
	backends []*backend
}

// backend is one task's address for a port.
type backend struct {
	taskID string
	addr   string
	// active counts the connections and flows forwarded to it from this
	// node.
	active atomic.Int64
}

// pick returns the backend with the fewest open connections that is not
// in tried, ties broken at random, or nil when none is left.
func (pl *pool) pick(tried map[*backend]bool) *backend {
	if pl == nil {
		return nil
	}
	var best *backend
	var bestN int64
	ties := 0
	for _, b := range pl.backends {
		if tried[b] {
			continue
		}
		n := b.active.Load()
		switch {
		case best == nil || n < bestN:
			best, bestN, ties = b, n, 1
		case n == bestN:
			// Reservoir sampling: each tied backend is kept with
			// probability 1/ties.
			ties++
			if rand.IntN(ties) == 0 {
				best = b
			}
		}
	}
	return best
}
