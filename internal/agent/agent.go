// Package agent is the worker on every node: it registers with the
// dispatcher, runs the tasks assigned to the node through a runtime,
// reports their status as it changes, and on restart adopts the tasks that
// kept running so none is lost or duplicated.
package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Config sets up an agent.
type Config struct {
	NodeID string
	// Addr is the node's address, reported to the managers.
	Addr string
	// Role is the role the node registers with the first time.
	Role     string
	Runtimes []runtime.Runtime
	Manager  Manager
	Logger   *slog.Logger
	// Hostname, when set, is reported instead of the machine's hostname.
	Hostname string
	// EngineLabels are reported in the node description.
	EngineLabels map[string]string
	// EngineVersion is reported in the node description (`node ls`).
	EngineVersion string
	// DrainDelay is how long a task that publishes ports or is on a
	// network keeps running after the managers want it stopped, before
	// its stop signal: time for every ingress to take it out of its pool,
	// and every task's VIP map to drop it, first.
	DrainDelay time.Duration
	// Networks plumbs tasks into their overlay networks; nil leaves
	// every task on its runtime's own networking.
	Networks Networker
	// NetworksOff, with Networks nil, says why this node cannot isolate
	// networks (not root): a process task that names networks is then
	// rejected with it. Empty leaves such a task on the host's network,
	// as on a node that does not try (`--docker=false`).
	NetworksOff string
	// UnreachableGrace is how long a running task may miss a published
	// port (a container disconnected from its network) before it is
	// failed and replaced; DefaultUnreachableGrace if 0.
	UnreachableGrace time.Duration
	// ListenAddr is reported in the node description: the cluster port
	// the node serves once promoted (empty: it cannot be).
	ListenAddr string
	// OS is the platform the node reports and maps its tasks' file
	// targets for (api.Platform.OS); empty is this machine's. Tests set
	// "windows" to drive a Windows node's assignment path on Linux.
	OS string
	// OnRole, when set, is told the role the cluster records for the
	// node, with every full assignment and at each change (promote,
	// demote). It must not block.
	OnRole func(role string)
}

// Agent runs one node's tasks.
type Agent struct {
	cfg      Config
	runtimes map[string]runtime.Runtime
	log      *slog.Logger
	reports  *reporter
	// files are the configs and secrets the node's tasks name.
	files *fileStore
	// node is what Swarm templates in task specs see of this node.
	node api.NodeDescription
	// nets are the networks the node's tasks are attached to.
	nets networkStore

	// session names this run of the agent to the managers
	// (NodeRegistration.Session).
	session string

	mu      sync.Mutex
	runners map[string]*runner
	wg      sync.WaitGroup
}

// New returns an agent; Run starts it.
func New(cfg Config) *Agent {
	a := &Agent{cfg: cfg, runtimes: map[string]runtime.Runtime{}, log: cfg.Logger, reports: newReporter(), runners: map[string]*runner{},
		session: rand.Text()}
	if a.log == nil {
		a.log = slog.Default()
	}
	for _, rt := range cfg.Runtimes {
		a.runtimes[rt.Name()] = rt
	}
	a.files = newFileStore(a.os())
	a.node = a.registration().Description
	return a
}

func (a *Agent) registration() api.NodeRegistration {
	names := make([]string, 0, len(a.cfg.Runtimes))
	for _, rt := range a.cfg.Runtimes {
		names = append(names, rt.Name())
	}
	desc := Describe(a.os(), names, a.cfg.EngineLabels)
	if a.cfg.Hostname != "" {
		desc.Hostname = a.cfg.Hostname
	}
	desc.EngineVersion = a.cfg.EngineVersion
	desc.ListenAddr = a.cfg.ListenAddr
	return api.NodeRegistration{NodeID: a.cfg.NodeID, Addr: a.cfg.Addr, Role: a.cfg.Role, Description: desc, Session: a.session}
}

// os is the platform the node reports (Config.OS).
func (a *Agent) os() string {
	if a.cfg.OS != "" {
		return a.cfg.OS
	}
	return goruntime.GOOS
}

// Session names this run of the agent (api.NodeRegistration.Session).
func (a *Agent) Session() string { return a.session }

// Run serves the node until ctx ends, or until the managers reject its
// registration for good (an error wrapping ErrRejected). Tasks keep running
// after it returns: the next agent on this node adopts them.
func (a *Agent) Run(ctx context.Context) error {
	defer a.wg.Wait()
	adopt, err := a.survivors(ctx)
	if err != nil {
		return err
	}
	backoff := 100 * time.Millisecond
	for {
		sess, err := a.cfg.Manager.Register(ctx, a.registration())
		if err == nil {
			backoff = 100 * time.Millisecond
			// adopt is consumed by the session's first assignment only: a
			// session that broke before it leaves it to the next one.
			err = a.serve(ctx, sess, &adopt)
			sess.Close()
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRemoved) {
			// The cluster no longer counts this node: what it runs is
			// being replaced elsewhere, so it stops.
			a.log.Warn("node removed from the cluster: stopping its tasks", "err", err)
			a.stopAll()
			return err
		}
		if errors.Is(err, ErrRejected) {
			return err
		}
		a.log.Warn("agent session ended; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// stopAll stops and removes every task of the node, those adopted from
// before this agent started included; Run waits for them.
func (a *Agent) stopAll() {
	a.mu.Lock()
	known := map[string]bool{}
	for id := range a.runners {
		known[id] = true
		a.removeLocked(id)
	}
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, err := a.survivors(ctx)
	if err != nil {
		a.log.Warn("list tasks to stop", "err", err)
		return
	}
	for id, s := range left {
		if !known[id] {
			a.discard(context.Background(), s)
		}
	}
}

// survivor is a task the runtimes still know of from before this agent
// started.
type survivor struct {
	rt runtime.Runtime
	h  runtime.Handle
}

func (a *Agent) survivors(ctx context.Context) (map[string]survivor, error) {
	out := map[string]survivor{}
	for _, rt := range a.cfg.Runtimes {
		hs, err := rt.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s tasks: %w", rt.Name(), err)
		}
		for _, h := range hs {
			out[h.TaskID] = survivor{rt: rt, h: h}
		}
	}
	return out, nil
}

// serve runs one session: heartbeats, reports, and assignments. It
// returns when any of the three fails, after the other two stopped. The
// runners it starts live on runCtx, not on the session: a broken session
// leaves every task running and watched, and the next session's full
// assignment brings the runners up to date.
func (a *Agent) serve(runCtx context.Context, sess Session, adopt *map[string]survivor) error {
	ctx, cancel := context.WithCancel(runCtx)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) {
		once.Do(func() { first = err })
		cancel()
	}
	wg.Add(2)
	go func() { defer wg.Done(); fail(a.heartbeat(ctx, sess)) }()
	go func() { defer wg.Done(); fail(a.reports.send(ctx, sess)) }()
	for {
		as, err := sess.Assignments(ctx)
		if err != nil {
			fail(err)
			break
		}
		a.apply(runCtx, as, *adopt)
		*adopt = nil
		if as.Role != "" && a.cfg.OnRole != nil {
			a.cfg.OnRole(as.Role)
		}
	}
	wg.Wait()
	return first
}

func (a *Agent) heartbeat(ctx context.Context, sess Session) error {
	for {
		period, err := sess.Heartbeat(ctx)
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(period):
		}
	}
}

// apply brings the node's runners in line with an assignment change.
func (a *Agent) apply(ctx context.Context, as api.Assignments, adopt map[string]survivor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files.apply(as)
	a.nets.apply(as)
	if as.Full && adopt != nil && a.cfg.Networks != nil {
		a.pruneNetworks(as)
	}
	if as.Full {
		keep := map[string]bool{}
		for _, t := range as.Tasks {
			keep[t.ID] = true
		}
		for id := range a.runners {
			if !keep[id] {
				a.removeLocked(id)
			}
		}
		// What survived but the cluster no longer assigns here is stopped
		// and cleaned up, in the background: each stop may take its grace
		// period, and the node's new assignments must not wait for it.
		for id, s := range adopt {
			if !keep[id] {
				a.wg.Add(1)
				go func() {
					defer a.wg.Done()
					a.discard(ctx, s)
				}()
			}
		}
	}
	for _, t := range as.Tasks {
		if r := a.runners[t.ID]; r != nil {
			r.update(t)
			r.reassert(t)
			continue
		}
		a.startLocked(ctx, t, adopt)
	}
	for _, id := range as.Removed {
		a.removeLocked(id)
	}
}

// startLocked makes the runner of a task this agent has not seen yet.
func (a *Agent) startLocked(ctx context.Context, t *api.Task, adopt map[string]survivor) {
	rt := a.runtimes[t.Spec.Runtime()]
	s, survived := adopt[t.ID]
	if survived {
		rt = s.rt
	}
	r := newRunner(t, rt, a.reports, a.log)
	r.files = a.files.forTask
	r.net, r.networks, r.netOff = a.cfg.Networks, a.nets.forTask, a.cfg.NetworksOff
	r.drain = a.cfg.DrainDelay
	r.node = a.node
	if a.cfg.UnreachableGrace > 0 {
		r.unreachable = a.cfg.UnreachableGrace
	}
	a.runners[t.ID] = r
	switch {
	case t.Status.State.Terminal() && survived && s.h.Running:
		// Ended for the managers while this node was away (orphaned: its
		// replacement runs elsewhere) yet still running here: stopped,
		// in the background as below, and nothing reported (its end is
		// written, and the store refuses another).
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(r.done)
			stopCtx, cancel := context.WithTimeout(ctx, stopGrace(t)+30*time.Second)
			defer cancel()
			if err := s.rt.Stop(stopCtx, t.ID, stopGrace(t)); err != nil {
				a.log.Warn("stop a task that ended while the node was away", "task", t.ID, "err", err)
			}
		}()
		return
	case t.Status.State.Terminal():
		close(r.done) // history: kept until the managers remove it
		return
	case rt == nil:
		close(r.done)
		r.send(api.TaskStatus{State: api.TaskStateRejected, Message: "runtime not available", Err: fmt.Sprintf("runtime %s is not available on this node", t.Spec.Runtime())}, nil)
		return
	case survived && s.h.Running && t.DesiredState <= api.TaskStateRunning:
		r.adopted = &s.h
	case survived:
		// It ended while no agent watched, or the managers want it gone.
		// Stopped in the background as above; the runner is registered
		// and done only once the stop is over, so a removal waits for it
		// and a later assignment can't start the task twice.
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(r.done)
			a.discardAndReport(ctx, r, s, t)
		}()
		return
	case t.Status.State >= api.TaskStateStarting:
		close(r.done)
		r.send(api.TaskStatus{State: api.TaskStateFailed, Message: "task lost", Err: "the task was not running when the agent restarted"}, nil)
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		r.run(ctx)
	}()
}

// discardAndReport ends a survivor the managers still list. When ctx ends
// first (the agent stops) nothing is reported: the task is still there for
// the next agent to find.
func (a *Agent) discardAndReport(ctx context.Context, r *runner, s survivor, t *api.Task) {
	grace := stopGrace(t)
	stopCtx, cancel := context.WithTimeout(ctx, grace+30*time.Second)
	defer cancel()
	if r.networked(t) {
		// Prune kept its plumbing: the cluster still had it running.
		defer func() {
			if ctx.Err() == nil {
				r.detach()
			}
		}()
	}
	if s.h.Running {
		if err := s.rt.Stop(stopCtx, t.ID, grace); err != nil {
			a.log.Warn("stop survivor", "task", t.ID, "err", err)
			if ctx.Err() != nil {
				return
			}
		}
		r.send(api.TaskStatus{State: api.TaskStateShutdown, Message: "shutdown"}, nil)
		return
	}
	st := api.TaskStatus{State: api.TaskStateFailed, Message: "task exited while the agent was down", Err: "task exited while the agent was down"}
	ex, err := s.rt.Wait(stopCtx, t.ID)
	if ctx.Err() != nil {
		return
	}
	if err == nil {
		// The error reads as any exit's (Swarm's "task: non-zero exit
		// (137)"); the message says when and how it ended.
		if ex.Message != "" {
			st.Message += ": " + ex.Message
		}
		if code := ex.ExitCode; code >= 0 {
			st.ExitCode = &code
			st.Err = exitErr(code)
			if code == 0 {
				st.State = api.TaskStateComplete
			}
		}
	}
	if t.DesiredState > api.TaskStateRunning {
		st = api.TaskStatus{State: api.TaskStateShutdown, Message: "shutdown"}
	}
	r.send(st, nil)
}

// discard stops and removes a survivor the managers do not know. When
// runCtx ends first, the survivor is left for the next agent.
func (a *Agent) discard(runCtx context.Context, s survivor) {
	ctx, cancel := context.WithTimeout(runCtx, api.DefaultStopGracePeriod+30*time.Second)
	defer cancel()
	if s.h.Running {
		if err := s.rt.Stop(ctx, s.h.TaskID, api.DefaultStopGracePeriod); err != nil {
			a.log.Warn("stop unknown task", "task", s.h.TaskID, "err", err)
			if runCtx.Err() != nil {
				return
			}
		}
	}
	if err := s.rt.Remove(ctx, s.h.TaskID); err != nil && !errors.Is(err, runtime.ErrUnknownTask) {
		a.log.Warn("remove unknown task", "task", s.h.TaskID, "err", err)
	}
	a.log.Info("removed a task the cluster no longer has", "task", s.h.TaskID)
}

// removeLocked forgets a task the managers deleted, stopping it first if it
// still runs, and cleans up after it in the background.
func (a *Agent) removeLocked(id string) {
	r := a.runners[id]
	if r == nil {
		return
	}
	delete(a.runners, id)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		t := r.current()
		if t.DesiredState < api.TaskStateRemove {
			tt := *t
			tt.DesiredState = api.TaskStateRemove
			r.update(&tt)
		}
		<-r.done
		if r.rt == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.rt.Remove(ctx, id); err != nil && !errors.Is(err, runtime.ErrUnknownTask) {
			a.log.Warn("remove task", "task", id, "err", err)
		}
	}()
}

func stopGrace(t *api.Task) time.Duration {
	if g := t.Spec.ContainerSpec.StopGracePeriod; g != nil {
		return g.D()
	}
	return api.DefaultStopGracePeriod
}

// StopAllTasks stops and removes every task the node's runtimes hold,
// once Run has returned: the node left the cluster (`swarm leave`), so
// nothing it ran is wanted any more.
func (a *Agent) StopAllTasks(ctx context.Context) error {
	a.mu.Lock()
	a.runners = map[string]*runner{}
	a.mu.Unlock()
	left, err := a.survivors(ctx)
	if err != nil {
		return err
	}
	for _, s := range left {
		a.discard(ctx, s)
	}
	return nil
}
