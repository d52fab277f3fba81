package portmesh

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

func listenUDP(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return net.ListenUDP("udp", ua)
}

// udpPort is a listening UDP socket and its flows: one per client
// address, each with a connected socket to the backend it picked.
type udpPort struct {
	pc    *net.UDPConn
	mu    sync.Mutex
	flows map[netip.AddrPort]*flow
	shut  bool
}

func newUDPPort(pc *net.UDPConn) *udpPort {
	return &udpPort{pc: pc, flows: map[netip.AddrPort]*flow{}}
}

// close closes the socket and ends every flow.
func (u *udpPort) close() {
	_ = u.pc.Close()
	u.mu.Lock()
	u.shut = true
	for _, f := range u.flows {
		_ = f.bc.Close()
	}
	u.mu.Unlock()
}

// flow is one client's datagrams to one backend.
type flow struct {
	client netip.AddrPort
	b      *backend
	bc     *net.UDPConn
	last   atomic.Int64 // unix nanoseconds of the last datagram either way
	// pool is the last pool b was found in (under udpPort.mu).
	pool *pool
}

// inPool reports whether the flow's backend is still in pl. udpPort.mu
// held.
func (f *flow) inPool(pl *pool) bool {
	if pl == f.pool {
		return true
	}
	if pl == nil || !slices.Contains(pl.backends, f.b) {
		return false
	}
	f.pool = pl
	return true
}

// serveUDP reads the client datagrams on u until it is closed.
func (m *Mesh) serveUDP(p *port, u *udpPort) {
	defer m.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := u.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // an ICMP error for an earlier reply; not fatal
		}
		f := m.flowFor(p, u, from)
		if f == nil {
			continue // dropped: no backend, or at the limit
		}
		f.last.Store(time.Now().UnixNano())
		if _, err := f.bc.Write(buf[:n]); err != nil {
			// The backend's port refused an earlier datagram (ICMP):
			// end the flow, so the next datagram picks again.
			_ = f.bc.Close()
		}
	}
}

// flowFor returns the client's flow, starting one (to the backend with
// the fewest flows) for a new client; nil drops the datagram.
func (m *Mesh) flowFor(p *port, u *udpPort, client netip.AddrPort) *flow {
	u.mu.Lock()
	defer u.mu.Unlock()
	if f := u.flows[client]; f != nil {
		if f.inPool(p.pool.Load()) {
			return f
		}
		// Its task left the service: a task gone with its node sends no
		// ICMP, so a client that keeps sending would never leave it.
		delete(u.flows, client)
		_ = f.bc.Close()
	}
	if u.shut {
		return nil
	}
	if !m.limit.acquire() {
		m.refused(p.key)
		return nil
	}
	pl := p.pool.Load()
	tried := map[*backend]bool{}
	for {
		b := pl.pick(tried)
		if b == nil {
			m.limit.release()
			m.log.Debug("published port: no task takes traffic", "port", p.key.String(), "service", p.name)
			return nil
		}
		tried[b] = true
		ra, err := net.ResolveUDPAddr("udp", b.addr)
		var bc *net.UDPConn
		if err == nil {
			bc, err = net.DialUDP("udp", nil, ra)
		}
		if err != nil {
			m.log.Debug("published port: backend socket failed; trying another task", "port", p.key.String(), "task", b.taskID, "err", err)
			continue
		}
		f := &flow{client: client, b: b, bc: bc, pool: pl}
		f.last.Store(time.Now().UnixNano())
		b.active.Add(1)
		u.flows[client] = f
		m.wg.Add(1)
		go m.replies(u, f, m.opts.UDPIdleTimeout)
		return f
	}
}

// replies sends the backend's datagrams back to the client until the flow
// is idle or its socket fails or closes, then ends the flow.
func (m *Mesh) replies(u *udpPort, f *flow, idle time.Duration) {
	defer m.wg.Done()
	defer m.limit.release()
	defer f.b.active.Add(-1)
	defer func() {
		u.mu.Lock()
		if u.flows[f.client] == f {
			delete(u.flows, f.client)
		}
		u.mu.Unlock()
		_ = f.bc.Close()
	}()
	buf := make([]byte, maxDatagram)
	for {
		last := time.Unix(0, f.last.Load())
		_ = f.bc.SetReadDeadline(last.Add(idle))
		n, err := f.bc.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, f.last.Load())) < idle {
				continue // the client sent something meanwhile
			}
			return
		}
		f.last.Store(time.Now().UnixNano())
		if _, err := u.pc.WriteToUDPAddrPort(buf[:n], f.client); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}
