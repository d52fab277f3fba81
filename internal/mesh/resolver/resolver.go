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
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
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
