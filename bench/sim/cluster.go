package sim

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dispatcher"
	"github.com/shoalproject/shoal/internal/manager"
	"github.com/shoalproject/shoal/internal/state"
)

// Config sets up a simulated cluster.
type Config struct {
	// Dir holds the manager's Raft state.
	Dir   string
	Nodes int
	// Labels gives node i its engine labels (constraints and placement
	// preferences select on them); nil gives none.
	Labels func(i int) map[string]string
	Delays Delays
	// HeartbeatPeriod is the agents' period; the dispatcher's default if 0.
	HeartbeatPeriod time.Duration
	Logger          *slog.Logger
}

// Cluster is a running manager and its simulated agents.
type Cluster struct {
	Manager *manager.Manager
	Agents  []*Agent
	dir     string
	log     *slog.Logger
	period  time.Duration
	disp    atomic.Pointer[dispatcher.Dispatcher]
	beats   lateness
	cancel  context.CancelFunc
}

// Start starts the manager, waits until it leads, then starts the agents
// and waits until every node is ready.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	dir := filepath.Join(cfg.Dir, "raft")
	m, err := manager.Start(manager.Config{RaftDir: dir, NodeID: "sim-manager", Logger: log,
		HeartbeatPeriod: cfg.HeartbeatPeriod, FastRaft: true})
	if err != nil {
		return nil, err
	}
	c := &Cluster{Manager: m, dir: dir, log: log, period: cfg.HeartbeatPeriod}
	c.disp.Store(m.Dispatcher())
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	if err := m.WaitLeader(ctx); err != nil {
		c.Close()
		return nil, err
	}
	for i := range cfg.Nodes {
		reg := api.NodeRegistration{
			NodeID: fmt.Sprintf("sim-node-%04d", i),
			Addr:   fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
			Role:   api.RoleWorker,
			Description: api.NodeDescription{
				Hostname:  fmt.Sprintf("sim-%04d", i),
				Platform:  api.Platform{OS: "linux", Architecture: "amd64"},
				Resources: api.Resources{NanoCPUs: 8e9, MemoryBytes: 32 << 30},
				Runtimes:  []string{api.RuntimeProcess, api.RuntimeDocker},
			},
		}
		if cfg.Labels != nil {
			reg.Description.EngineLabels = cfg.Labels(i)
		}
		a := newAgent(&c.disp, reg, cfg.Delays, &c.beats)
		a.start(runCtx)
		c.Agents = append(c.Agents, a)
	}
	if err := c.Wait(ctx, func(tx *state.ReadTx) bool { return c.readyNodes(tx) == cfg.Nodes }); err != nil {
		c.Close()
		return nil, fmt.Errorf("wait for %d nodes: %w", cfg.Nodes, err)
	}
	return c, nil
}

func (c *Cluster) readyNodes(tx *state.ReadTx) int {
	n := 0
	for _, nd := range tx.Nodes() {
		if nd.Status.State == api.NodeStateReady && nd.ID != "sim-manager" {
			n++
		}
	}
	return n
}

// Wait waits on the store's events until cond holds. cond runs at most
// every 20ms, so that a check that walks the store does not slow the
// cluster it watches.
func (c *Cluster) Wait(ctx context.Context, cond func(*state.ReadTx) bool) error {
	s := c.Manager.Store()
	tx, sub := s.Subscribe()
	defer sub.Close()
	for !cond(tx) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.Ready():
		}
		if _, err := sub.Drain(); err != nil {
			return err
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		tx = s.Read()
	}
	return nil
}

// Restart closes the manager and starts it again on its Raft folder, as
// after a crash or an upgrade; the agents register with the new one. It
// returns once the new manager leads, every node registered again and
// every task of the services runs: the time to a converged leader, and
// the part of it until the new manager led (its log replayed).
func (c *Cluster) Restart(ctx context.Context, tasks int) (converged, leader time.Duration, err error) {
	start := time.Now()
	if err := c.Manager.Close(); err != nil {
		return 0, 0, fmt.Errorf("close the manager: %w", err)
	}
	m, err := manager.Start(manager.Config{RaftDir: c.dir, NodeID: "sim-manager", Existing: true, Logger: c.log,
		HeartbeatPeriod: c.period, FastRaft: true})
	if err != nil {
		return 0, 0, fmt.Errorf("start the manager again: %w", err)
	}
	c.Manager = m
	c.disp.Store(m.Dispatcher())
	if err := m.WaitLeader(ctx); err != nil {
		return 0, 0, err
	}
	leader = time.Since(start)
	led := m.Store().Index()
	err = c.Wait(ctx, func(tx *state.ReadTx) bool {
		for _, n := range tx.Nodes() {
			if n.ID != "sim-manager" && (n.Status.State != api.NodeStateReady || n.Version <= led) {
				return false
			}
		}
		_, running := c.count(tx)
		return running == tasks
	})
	if err != nil {
		return 0, 0, fmt.Errorf("wait for the agents and tasks: %w", err)
	}
	return time.Since(start), leader, nil
}

// RaftBytes is the size of the manager's Raft folder (log and snapshots).
func (c *Cluster) RaftBytes() int64 {
	var total int64
	filepath.Walk(c.dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			total += fi.Size()
		}
		return nil
	})
	return total
}

// Close stops the agents and the manager.
func (c *Cluster) Close() error {
	c.cancel()
	for _, a := range c.Agents {
		<-a.done
	}
	return c.Manager.Close()
}
