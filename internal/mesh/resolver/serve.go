package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Limits of the DNS servers, per listener.
const (
	// tcpIdleTimeout closes a TCP connection that sends nothing more.
	tcpIdleTimeout = 10 * time.Second
	// maxTCPQueries closes a TCP connection after this many queries, so one
	// client cannot keep a slot for ever.
	maxTCPQueries = 128
	// udpReadBuffer is the largest query read over UDP: room for EDNS
	// options, where the dns package's default of 512 bytes is not.
	udpReadBuffer = 4096
)

// Listener is a UDP socket and a TCP listener to serve on. Either may be
// nil, not both.
type Listener struct {
	UDP net.PacketConn
	TCP net.Listener
	// Task, when set, is the ID of the task every query on these sockets
	// comes from: sockets opened inside the task's own network namespace,
	// where queries to 127.0.0.11 come from a loopback address. When empty,
	// the querier is the task whose address is the query's source address,
	// and queries from any other address are REFUSED.
	Task string
}

// Serve answers queries on l until ctx is done, then closes l's sockets and
// returns once every query in progress has ended (those forwarding
// upstream are cancelled). It returns an error if a socket fails.
func (r *Resolver) Serve(ctx context.Context, l Listener) error {
	if l.UDP == nil && l.TCP == nil {
		return errors.New("dns serve: no UDP socket and no TCP listener")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var servers []*dns.Server
	if l.UDP != nil {
		h := &handler{r: r, ctx: ctx, task: l.Task, proto: "udp"}
		servers = append(servers, &dns.Server{PacketConn: l.UDP, Handler: h, UDPSize: udpReadBuffer})
	}
	if l.TCP != nil {
		h := &handler{r: r, ctx: ctx, task: l.Task, proto: "tcp"}
		servers = append(servers, &dns.Server{
			Listener:      newLimitListener(l.TCP, r.cfg.MaxTCPConns),
			Handler:       h,
			ReadTimeout:   r.cfg.QueryTimeout,
			WriteTimeout:  r.cfg.QueryTimeout,
			IdleTimeout:   func() time.Duration { return tcpIdleTimeout },
			MaxTCPQueries: maxTCPQueries,
		})
	}
	if err := runServers(ctx, cancel, servers); err != nil {
		return fmt.Errorf("dns serve: %w", err)
	}
	return nil
}

// runServers serves until ctx is done or one server fails, then cancels
// the queries in progress, shuts every server down and waits for it.
func runServers(ctx context.Context, cancel context.CancelFunc, servers []*dns.Server) error {
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(servers))
	started := make([]chan struct{}, len(servers))
	for i, s := range servers {
		started[i] = make(chan struct{})
		s.NotifyStartedFunc = func() { close(started[i]) }
		go func() { results <- result{i, s.ActivateAndServe()} }()
	}
	var err error
	exited := make([]bool, len(servers))
	exit := func(res result) {
		exited[res.i] = true
		if err == nil {
			err = res.err
			if err == nil {
				err = errors.New("server stopped")
			}
		}
	}
	// Shutdown refuses a server that has not started, so wait for each
	// to start (or fail) before watching ctx.
	for i := range servers {
	settle:
		for !exited[i] {
			select {
			case <-started[i]:
				break settle
			case res := <-results:
				exit(res)
			}
		}
	}
	if err == nil {
		select {
		case <-ctx.Done():
		case res := <-results:
			exit(res)
		}
	}
	cancel() // ends the forwards in progress
	for i, s := range servers {
		if !exited[i] {
			_ = s.Shutdown() // waits for the queries in progress
			res := <-results
			exited[res.i] = true
			if res.err != nil && err == nil {
				err = res.err
			}
		}
	}
	return err
}

// handler serves the queries of one socket.
type handler struct {
	r     *Resolver
	ctx   context.Context
	task  string
	proto string
}

// ServeDNS implements dns.Handler.
func (h *handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	t := h.r.table.Load()
	var q *querier
	noQuerier := dns.RcodeRefused
	if h.task != "" {
		q = t.byTask[h.task]
		// The task's own socket: it is ours, just not in the snapshot yet.
		noQuerier = dns.RcodeServerFailure
	} else if src, ok := addrOf(w.RemoteAddr()); ok {
		q = t.byAddr[src]
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.r.cfg.QueryTimeout)
	defer cancel()
	resp := h.r.answer(ctx, t, req, q, noQuerier, h.proto)
	if err := w.WriteMsg(resp); err != nil {
		h.r.log.Debug("dns: write reply", "to", w.RemoteAddr(), "err", err)
	}
}

// addrOf is the IP address of a socket address.
func addrOf(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	case *net.TCPAddr:
		ip, ok := netip.AddrFromSlice(a.IP)
		return ip.Unmap(), ok
	}
	return netip.Addr{}, false
}
