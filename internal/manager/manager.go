// Package manager runs one manager: the Raft member and its store, the
// controllers that run while this manager leads, the dispatcher, and the
// control operations the API exposes.
package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/orchestrator"
	"github.com/shoalproject/shoal/internal/scheduler"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/updater"
)

// Config sets up a manager.
type Config struct {
	// RaftDir holds the Raft log and snapshots.
	RaftDir string
	NodeID  string
	// Existing says the data folder held a cluster before: a missing
	// Raft log is then damage, not a new cluster.
	Existing bool
	Logger   *slog.Logger
	Clock    clock.Clock
	// HeartbeatPeriod is the agents' heartbeat period.
	HeartbeatPeriod time.Duration
	// FastRaft shortens Raft timeouts (tests, one-node clusters).
	FastRaft bool
	// SecretKey encrypts secrets at rest; by default it is the key in
	// RaftDir/secret.key, made on first start. A manager that joins a
	// cluster gets the cluster's key over its join, and passes it here.
	SecretKey *secretkey.Key
	// Transport carries Raft to the other managers (cluster.NewTLSTransport);
	// nil runs a one-manager cluster with no Raft port.
	Transport cluster.Transport
	// Join says this manager joins a cluster that exists: a new Raft
	// folder waits for the leader to add it instead of bootstrapping.
	Join bool
	// ObservePass, if set, is told how long each pass of a controller
	// ("orchestrator", "scheduler", "updater") took (metrics).
	ObservePass func(controller string, d time.Duration)
	// ObserveRaft, ObserveHeartbeat and ObserveTaskStart, if set, are
	// told how long Raft's commits and applies took (cluster.Config's
	// Observe), the gaps between nodes' heartbeats and tasks' starts
	// (dispatcher.Dispatcher's), for metrics.
	ObserveRaft      func(op string, d time.Duration)
	ObserveHeartbeat func(gap time.Duration)
	ObserveTaskStart func(runtime string, d time.Duration)

	// barrier, when set, stands in for the Raft barrier (tests).
	barrier func(timeout time.Duration) error
}

// Manager is a running manager.
type Manager struct {
	cfg        Config
	log        *slog.Logger
	store      *state.Store
	raft       *cluster.Raft
	dispatcher *dispatcher.Dispatcher
	secretKey  *secretkey.Key

	cancel context.CancelFunc
	wg     sync.WaitGroup

	// leadMu guards leading: a channel closed while this manager leads
	// with its store caught up, replaced when leadership is lost; and the
	// write gate (gate.go): readyTerm, the Raft term whose leadership
	// barrier has applied (0 for none), and readyChanged, closed and
	// replaced whenever readyTerm changes.
	leadMu       sync.Mutex
	leading      chan struct{}
	readyTerm    uint64
	readyChanged chan struct{}
}

// Start opens the manager's Raft state and begins following leadership.
func Start(cfg Config) (*Manager, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	// Raft opens first: it refuses a damaged folder before anything,
	// the key included, is written to it. The key is made after the Raft
	// log, so a key beside a missing log means the log was lost.
	keyPath := filepath.Join(cfg.RaftDir, secretkey.FileName)
	existing := cfg.Existing
	_, keyErr := os.Stat(keyPath)
	if keyErr == nil {
		existing = true
	}
	// A folder that held a cluster had its key since its first start: a
	// new one would leave every stored secret unreadable, silently. (A
	// folder that lost its Raft log too is refused for that, by Open.)
	_, logErr := os.Stat(filepath.Join(cfg.RaftDir, cluster.LogFile))
	if cfg.Existing && cfg.SecretKey == nil && errors.Is(keyErr, os.ErrNotExist) && logErr == nil {
		return nil, &cluster.DamagedError{File: keyPath, Problem: "is missing, but the data folder held a cluster whose secrets it decrypts"}
	}
	store := state.NewStore()
	r, err := cluster.Open(cluster.Config{Dir: cfg.RaftDir, NodeID: cfg.NodeID, Existing: existing, Logger: log, Fast: cfg.FastRaft,
		Transport: cfg.Transport, Join: cfg.Join, Observe: cfg.ObserveRaft}, store)
	if err != nil {
		return nil, err
	}
	key := cfg.SecretKey
	if key == nil {
		if key, err = secretkey.LoadOrCreate(keyPath); err != nil {
			r.Close()
			return nil, err
		}
	}
	m := &Manager{cfg: cfg, log: log, store: store, raft: r, secretKey: key, leading: make(chan struct{}), readyChanged: make(chan struct{})}
	m.dispatcher = &dispatcher.Dispatcher{Store: store, Proposer: m, Logger: log.With("component", "dispatcher"), HeartbeatPeriod: cfg.HeartbeatPeriod, SecretKey: key,
		ObserveHeartbeat: cfg.ObserveHeartbeat, ObserveTaskStart: cfg.ObserveTaskStart}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.followLeadership(ctx)
	}()
	return m, nil
}

// Store is the manager's read view of the cluster state.
func (m *Manager) Store() *state.Store { return m.store }

// SecretKey is the key secrets are encrypted with at rest.
func (m *Manager) SecretKey() *secretkey.Key { return m.secretKey }

// Dispatcher serves this manager's agent sessions.
func (m *Manager) Dispatcher() *dispatcher.Dispatcher { return m.dispatcher }

// Raft is the manager's Raft member.
func (m *Manager) Raft() *cluster.Raft { return m.raft }

// Propose writes a command through Raft.
func (m *Manager) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	if cmd.Time.IsZero() {
		cmd.Time = m.cfg.Clock.Now().UTC()
	}
	return m.raft.Propose(ctx, cmd)
}

// WaitLeader blocks until this manager leads with its store caught up, or
// ctx ends.
func (m *Manager) WaitLeader(ctx context.Context) error {
	m.leadMu.Lock()
	ch := m.leading
	m.leadMu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for raft leadership: %w", ctx.Err())
	}
}

// IsLeader reports whether this manager leads now.
func (m *Manager) IsLeader() bool { return m.raft.IsLeader() }

// followLeadership runs the controllers while this manager leads.
func (m *Manager) followLeadership(ctx context.Context) {
	var stop func()
	leading := false
	drop := func() {
		m.leadMu.Lock()
		m.leading = make(chan struct{})
		m.setReadyTerm(0)
		m.leadMu.Unlock()
		if stop != nil {
			stop()
			stop = nil
		}
	}
	var term uint64 // of the leadership the controllers run for
	set := func(lead bool) {
		switch {
		case lead && leading:
			// Raft sends only the latest of its leadership changes: a
			// loss and a new election read as one "true". The store may
			// have missed entries of the terms between, so a new term
			// needs its own barrier.
			if t := m.raft.Term(); t != term {
				drop()
				term = t
				stop = m.lead(ctx)
				m.log.Info("leader again in a new term: controllers restarted", "term", t)
			}
		case lead:
			leading = true
			term = m.raft.Term()
			stop = m.lead(ctx)
			m.log.Info("this manager is the leader: controllers started")
		case leading:
			leading = false
			drop()
			m.log.Info("leadership lost: controllers stopped")
		}
	}
	set(m.raft.IsLeader())
	for {
		select {
		case <-ctx.Done():
			set(false)
			return
		case lead := <-m.raft.LeaderCh():
			set(lead)
		}
	}
}

// lead starts the leader-only controllers and returns the function that
// stops them.
func (m *Manager) lead(parent context.Context) func() {
	ctx, cancel := context.WithCancel(parent)
	// This term's channel: once leadership is lost, followLeadership
	// replaces m.leading, and a late close here must not announce the next
	// term before it starts.
	m.leadMu.Lock()
	leading := m.leading
	m.leadMu.Unlock()
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				err := f(ctx)
				if ctx.Err() != nil || errors.Is(err, context.Canceled) {
					return
				}
				m.log.Warn("controller stopped; restarting", "controller", name, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Act only once the store holds every committed write.
		term, err := m.barrier(ctx)
		if err != nil {
			return // leadership ended first
		}
		stopDispatcher := m.dispatcher.Start(ctx)
		orch := &orchestrator.Orchestrator{Store: m.store, Proposer: m, Clock: m.cfg.Clock, Logger: m.log.With("component", "orchestrator"),
			ObservePass: m.observer("orchestrator")}
		sched := &scheduler.Scheduler{Store: m.store, Proposer: m, Clock: m.cfg.Clock, Logger: m.log.With("component", "scheduler"),
			ObservePass: m.observer("scheduler")}
		upd := &updater.Updater{Store: m.store, Proposer: m, Clock: m.cfg.Clock, Logger: m.log.With("component", "updater"),
			ObservePass: m.observer("updater")}
		run("orchestrator", orch.Run)
		run("scheduler", sched.Run)
		run("updater", upd.Run)
		m.leadMu.Lock()
		select {
		case <-leading:
		default:
			if ctx.Err() == nil {
				close(leading)
			}
			if ctx.Err() == nil && leading == m.leading {
				m.setReadyTerm(term)
			}
		}
		m.leadMu.Unlock()
		<-ctx.Done()
		stopDispatcher()
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// Barrier timing: one attempt's timeout, and the pauses between attempts,
// doubling from the first to the last.
const (
	barrierTimeout    = 10 * time.Second
	barrierRetryFirst = 100 * time.Millisecond
	barrierRetryMax   = 5 * time.Second
)

// barrier waits until the store holds every write committed before this
// term, and returns the term. A failed barrier (a timeout on a slow disk)
// is retried until ctx ends, when leadership is lost or the manager
// closes: giving up would leave a leader that runs no controllers while
// no other manager may.
func (m *Manager) barrier(ctx context.Context) (uint64, error) {
	try := m.cfg.barrier
	if try == nil {
		try = m.raft.Barrier
	}
	wait := barrierRetryFirst
	for {
		// A barrier that passed with the term unchanged around it ran
		// as the leader of that term: a manager leads at most once per
		// term, and Raft refuses a barrier on a follower.
		term := m.raft.Term()
		err := try(barrierTimeout)
		if err == nil && (!m.raft.IsLeader() || m.raft.Term() != term) {
			err = fmt.Errorf("the leadership changed during the barrier (term %d)", term)
		}
		if err == nil {
			return term, nil
		}
		m.log.Warn("raft barrier after election failed; retrying", "err", err, "retry_in", wait)
		t := m.cfg.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, fmt.Errorf("raft barrier after election: %w", ctx.Err())
		case <-t.C():
		}
		wait = min(2*wait, barrierRetryMax)
	}
}

// Close stops the controllers and Raft.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	return m.raft.Close()
}

// observer is the pass observer of controller name, nil without metrics.
func (m *Manager) observer(name string) func(time.Duration) {
	if m.cfg.ObservePass == nil {
		return nil
	}
	return func(d time.Duration) { m.cfg.ObservePass(name, d) }
}
