// Package resolver is the embedded DNS server of a node: every task's
// resolv.conf points at it (127.0.0.11 inside the task's namespace, as in
// Docker). It answers cluster names from a Snapshot of the cluster's
// services and tasks, only between tasks and services that share a network,
// and forwards every other name to the node's upstream resolvers.
//
// Names, per network the querying task is on:
//
//	NAME, alias          the service's VIP (endpoint mode vip) or its ready
//	                     tasks' addresses in random order (dnsrr)
//	tasks.NAME           the ready tasks' addresses, in random order
//	a, tasks.a           the same, for services of the querier's own stack
//	                     named STACK_a
//
// A query is answered from an immutable table swapped in whole by Update, so
// queries take no lock and never scan.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Config configures a Resolver. Zero fields take the defaults below.
type Config struct {
	// Upstreams are the resolvers other names are forwarded to, as
	// "IP:port", tried in order. Nil reads the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read when Upstreams is nil (default /etc/resolv.conf).
	ResolvConf string
	// ForwardTimeout bounds each upstream exchange (default 4 s, Docker's).
	ForwardTimeout time.Duration
	// QueryTimeout bounds the whole handling of one query, forwarding
	// included (default 10 s), and a TCP connection's first read.
	QueryTimeout time.Duration
	// MaxTCPConns bounds the open TCP connections of each Serve call
	// (default 256); connections over it are closed at once.
	MaxTCPConns int
	// MaxForwards bounds the queries forwarded upstream at once, over all
	// listeners (default 1024, Docker's); queries over it get REFUSED.
	MaxForwards int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultResolvConf     = "/etc/resolv.conf"
	DefaultForwardTimeout = 4 * time.Second
	DefaultQueryTimeout   = 10 * time.Second
	DefaultMaxTCPConns    = 256
	DefaultMaxForwards    = 1024
)

// tcpIdleTimeout closes a TCP connection that sends nothing more.
const tcpIdleTimeout = 10 * time.Second

// Resolver answers DNS queries from tasks. Create it with New, give it a
// Snapshot with Update, and serve it on listeners with Serve.
type Resolver struct {
	cfg       Config
	upstreams []string
	forwards  chan struct{}
	log       *slog.Logger
	table     atomic.Pointer[table]
	// lastRefusedLog is when the forward limit was last logged (Unix ns).
	lastRefusedLog atomic.Int64
}

// New makes a Resolver with cfg. It answers nothing about the cluster (and
// refuses every querier, who is unknown) until the first Update.
func New(cfg Config) (*Resolver, error) {
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = DefaultResolvConf
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.MaxTCPConns <= 0 {
		cfg.MaxTCPConns = DefaultMaxTCPConns
	}
	if cfg.MaxForwards <= 0 {
		cfg.MaxForwards = DefaultMaxForwards
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Resolver{cfg: cfg, forwards: make(chan struct{}, cfg.MaxForwards), log: cfg.Logger}
	var err error
	if cfg.Upstreams != nil {
		r.upstreams, err = checkUpstreams(cfg.Upstreams)
	} else {
		r.upstreams, err = readUpstreams(cfg.ResolvConf)
	}
	if err != nil {
		return nil, err
	}
	if len(r.upstreams) == 0 {
		r.log.Warn("dns: no upstream resolvers; tasks can resolve only cluster names", "resolv_conf", cfg.ResolvConf)
	}
	r.table.Store(&table{})
	return r, nil
}

// Upstreams returns the resolvers other names are forwarded to.
func (r *Resolver) Upstreams() []string { return append([]string(nil), r.upstreams...) }

// Update replaces what the resolver answers with s. It indexes s into a new
// table and swaps it in whole: a query sees the old table or the new one,
// never a mix. On an inconsistent snapshot it returns an error naming the
// problem and keeps answering from the previous one.
func (r *Resolver) Update(s Snapshot) error {
	t, err := buildTable(&s)
	if err != nil {
		return fmt.Errorf("dns snapshot: %w", err)
	}
	r.table.Store(t)
	return nil
}

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
		// UDPSize is the read buffer: room for a query with EDNS options.
		servers = append(servers, &dns.Server{PacketConn: l.UDP, Handler: h, UDPSize: 4096})
	}
	if l.TCP != nil {
		h := &handler{r: r, ctx: ctx, task: l.Task, proto: "tcp"}
		servers = append(servers, &dns.Server{
			Listener:      newLimitListener(l.TCP, r.cfg.MaxTCPConns),
			Handler:       h,
			ReadTimeout:   r.cfg.QueryTimeout,
			WriteTimeout:  r.cfg.QueryTimeout,
			IdleTimeout:   func() time.Duration { return tcpIdleTimeout },
			MaxTCPQueries: 128,
		})
	}
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
	if err != nil {
		return fmt.Errorf("dns serve: %w", err)
	}
	return nil
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
