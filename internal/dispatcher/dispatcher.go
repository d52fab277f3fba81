// Package dispatcher is the managers' side of the agents: it registers
// nodes, streams each node its assigned tasks, applies the task status the
// agents report, and marks a node down when its heartbeats stop.
package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/secretkey"
	"github.com/shoalproject/shoal/internal/state"
)

// ErrNotRunning is returned to agents while this manager's dispatcher is
// not running (it is not the leader).
var ErrNotRunning = errors.New("dispatcher not running on this manager")

// DefaultHeartbeatPeriod is how often agents beat; a node is down after
// three missed periods (Swarm's multiplier), 4.5 s: a lost node's tasks
// run elsewhere within 5 s, and an agent may stall 3 s without being
// marked down. Beats touch no Raft log, only the leader's timers.
const DefaultHeartbeatPeriod = 1500 * time.Millisecond

// missedBeats is how many periods without a beat mark a node down.
const missedBeats = 3

// unknownGrace multiplies the timeout of the nodes a new leader finds
// ready, which must find it and register again (swarmkit doubles it too):
// an election and an agent's reconnection backoff must not pass for a
// lost node.
const unknownGrace = 2

// Dispatcher serves agent sessions. It runs on the leader only.
type Dispatcher struct {
	Store    *state.Store
	Proposer state.Proposer
	Logger   *slog.Logger
	// HeartbeatPeriod defaults to DefaultHeartbeatPeriod.
	HeartbeatPeriod time.Duration
	// SecretKey opens the secrets handed to agents. Without it secrets are
	// handed over as stored (a store whose secrets were never sealed:
	// tests).
	SecretKey *secretkey.Key
	// MaxNodes bounds the node table; DefaultMaxNodes if 0.
	MaxNodes int
	// SessionQueue bounds the events queued for one session;
	// DefaultSessionQueue if 0.
	SessionQueue int
	// ObserveHeartbeat, if set, is told the gap between a node's
	// heartbeats as this dispatcher sees them (metrics).
	ObserveHeartbeat func(gap time.Duration)
	// ObserveTaskStart, if set, is told how long a task took from
	// assigned to running, by the leader's clock, with its runtime
	// (metrics).
	ObserveTaskStart func(runtime string, d time.Duration)

	// regMu orders registrations: one of a new node holds it alone (it
	// may fill the table's last place, or take a down node's), those of
	// known nodes share it (they change no count, and a node they
	// register cannot be taken meanwhile).
	regMu sync.RWMutex
	// resMu guards reserved, the addresses the manager listens on (see
	// Reserve).
	resMu    sync.Mutex
	reserved []netip.AddrPort

	// reports coalesces the sessions' task reports into shared entries.
	reports reportQueue

	mu       sync.Mutex
	ctx      context.Context // nil while not running
	beats    map[string]*heartbeat
	sessions map[*Session]struct{}
}

func (d *Dispatcher) period() time.Duration {
	if d.HeartbeatPeriod > 0 {
		return d.HeartbeatPeriod
	}
	return DefaultHeartbeatPeriod
}

func (d *Dispatcher) sessionQueue() int {
	if d.SessionQueue > 0 {
		return d.SessionQueue
	}
	return DefaultSessionQueue
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

// Start begins serving sessions; they end when ctx ends or stop is
// called. Nodes that the store says are ready must beat within the
// timeout, or they are marked down. Start returns at once: a manager calls
// it when it becomes the leader, before it tells anyone it leads.
func (d *Dispatcher) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	d.mu.Lock()
	d.ctx = ctx
	d.beats = map[string]*heartbeat{}
	d.sessions = map[*Session]struct{}{}
	for _, n := range d.Store.Read().Nodes() {
		if n.Status.State == api.NodeStateReady {
			d.armLocked(n.ID, unknownGrace*d.timeout())
		}
	}
	d.mu.Unlock()
	return func() {
		cancel()
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, h := range d.beats {
			h.stop()
		}
		for s := range d.sessions {
			s.cancel()
		}
		d.ctx = nil
	}
}

// Run serves sessions until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	stop := d.Start(ctx)
	<-ctx.Done()
	stop()
	return ctx.Err()
}

// timeout is how long a node may go without a beat.
func (d *Dispatcher) timeout() time.Duration { return missedBeats * d.period() }

// armLocked starts node id's failure detector, to fire after first unless
// it beats, or restarts it.
func (d *Dispatcher) armLocked(id string, first time.Duration) {
	if h := d.beats[id]; h != nil {
		h.beat()
		return
	}
	ctx := d.ctx
	d.beats[id] = newHeartbeat(first, d.timeout(), func() { d.expire(ctx, id) })
}

// expire marks a node down after its heartbeats stopped.
func (d *Dispatcher) expire(ctx context.Context, id string) {
	d.mu.Lock()
	if h := d.beats[id]; h != nil {
		h.stop()
		delete(d.beats, id)
	}
	d.mu.Unlock()
	n := d.Store.Read().Node(id)
	if n == nil || n.Status.State == api.NodeStateDown {
		return
	}
	st := n.Status
	st.State = api.NodeStateDown
	st.Message = "heartbeat failure"
	_, err := d.Proposer.Propose(ctx, &state.Command{Ops: []state.Op{{Kind: state.OpNodeStatus, ID: id, NodeStatus: &st}}})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		// Try again after another timeout (unless the node beat in the
		// meantime): a node left ready without a detector would never be
		// marked down, nor its tasks replaced.
		d.logger().Warn("mark node down; trying again", "node", id, "err", err, "in", d.timeout())
		d.mu.Lock()
		if d.ctx == ctx && d.beats[id] == nil {
			d.armLocked(id, d.timeout())
		}
		d.mu.Unlock()
		return
	}
	// End the node's sessions: only Register marks a node ready again, so
	// an agent that beats late must register anew rather than go on beating
	// with its node down for good.
	d.mu.Lock()
	for s := range d.sessions {
		if s.nodeID == id {
			s.cancel()
		}
	}
	d.mu.Unlock()
	d.logger().Info("node down: heartbeats stopped", "node", id)
}

// Register records the node as ready and opens its session. It refuses a
// registration beyond the limits on what a node says of itself
// (ErrInvalidRegistration), and a new node while the node table is full
// (ErrTooManyNodes).
func (d *Dispatcher) Register(ctx context.Context, reg api.NodeRegistration) (*Session, error) {
	d.mu.Lock()
	dctx := d.ctx
	d.mu.Unlock()
	if dctx == nil {
		return nil, ErrNotRunning
	}
	if reg.NodeID == "" {
		return nil, fmt.Errorf("register node: missing node ID")
	}
	if err := checkRegistration(reg); err != nil {
		return nil, fmt.Errorf("register node %s: %w", reg.NodeID, err)
	}
	d.regMu.RLock()
	unlock := d.regMu.RUnlock
	tx := d.Store.Read()
	cur := tx.Node(reg.NodeID)
	if cur == nil {
		unlock()
		d.regMu.Lock()
		unlock = d.regMu.Unlock
		tx = d.Store.Read()
		cur = tx.Node(reg.NodeID)
	}
	defer func() { unlock() }()
	// The state refuses it too (OpRegisterNode); checked here first for
	// the message.
	if tx.NodeRemoved(reg.NodeID) {
		return nil, fmt.Errorf("node %s: %w by an operator (`shoal node rm`): its agent stops its tasks; "+
			"to join again, start it with a new data folder", reg.NodeID, ErrNodeRemoved)
	}
	node := &api.Node{ID: reg.NodeID, Description: reg.Description}
	if cur != nil {
		node.Spec = cur.Spec
	} else {
		role := reg.Role
		if role == "" {
			role = api.RoleWorker
		}
		node.Spec = api.NodeSpec{Role: role, Availability: api.AvailabilityActive}
	}
	// A new session marks the node's endpoints unconfirmed in the same
	// write (state's OpRegisterNode): the agent reports them again once
	// it has read its runtime.
	node.Status = api.NodeStatus{State: api.NodeStateReady, Addr: reg.Addr, LastHeartbeat: time.Now().UTC(), Session: reg.Session}
	ops, err := d.admitOps(tx, node, cur == nil)
	if err != nil {
		return nil, fmt.Errorf("register node %s: %w", reg.NodeID, err)
	}
	res, err := d.Proposer.Propose(ctx, &state.Command{Atomic: true, Ops: ops})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return nil, fmt.Errorf("register node %s: %w", reg.NodeID, err)
	}
	sctx, cancel := context.WithCancel(dctx)
	tx, sub := d.Store.SubscribeNode(reg.NodeID, d.sessionQueue())
	s := &Session{d: d, nodeID: reg.NodeID, agent: reg.Session, ctx: sctx, cancel: cancel, first: tx, sub: sub}
	d.mu.Lock()
	if d.ctx == nil {
		d.mu.Unlock()
		cancel()
		sub.Close()
		return nil, ErrNotRunning
	}
	d.sessions[s] = struct{}{}
	d.armLocked(reg.NodeID, d.timeout())
	d.mu.Unlock()
	return s, nil
}

func (d *Dispatcher) endSession(s *Session) {
	d.mu.Lock()
	if d.sessions != nil {
		delete(d.sessions, s)
	}
	d.mu.Unlock()
}

func (d *Dispatcher) beat(nodeID string) error {
	d.mu.Lock()
	if d.ctx == nil {
		d.mu.Unlock()
		return ErrNotRunning
	}
	h := d.beats[nodeID]
	if h == nil {
		// Not armed (the dispatcher started after the node registered):
		// no gap to tell.
		d.armLocked(nodeID, d.timeout())
		d.mu.Unlock()
		return nil
	}
	gap := h.beat()
	d.mu.Unlock()
	if d.ObserveHeartbeat != nil {
		d.ObserveHeartbeat(gap)
	}
	return nil
}
