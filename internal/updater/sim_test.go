package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing/synctest"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/clock"
	"github.com/shoalproject/shoal/internal/orchestrator"
	"github.com/shoalproject/shoal/internal/state"
)

// The simulation: a store written through a LocalProposer, the real
// Orchestrator.Run and Updater.Run loops on a fake clock, and the test
// playing scheduler and agent. Everything runs inside a synctest bubble, so
// synctest.Wait tells when both controllers have nothing left to do; the
// fake clock only moves when the test moves it.

// tb is what the cluster needs of testing.T and rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Logf(format string, args ...any)
}

// mode is how the scripted agent runs a task.
type mode int

const (
	good      mode = iota
	crash          // reaches running (healthy), then exits with code 1 at once
	unhealthy      // starts but never becomes healthy: fails before running
	crashLate      // reaches running, exits with code 1 crashAfter later
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recClock is the controllers' fake clock. It remembers when their timers
// are due, so the test can step the clock from one to the next.
type recClock struct {
	*clock.Fake
	mu  sync.Mutex
	due []time.Time
}

func (c *recClock) NewTimer(d time.Duration) clock.Timer {
	c.addDue(c.Fake.Now().Add(d))
	return c.Fake.NewTimer(d)
}

func (c *recClock) addDue(at time.Time) {
	c.mu.Lock()
	c.due = append(c.due, at)
	c.mu.Unlock()
}

// next returns the earliest due time after now.
func (c *recClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.Fake.Now()
	keep := c.due[:0]
	var at time.Time
	for _, d := range c.due {
		if !d.After(now) {
			continue
		}
		keep = append(keep, d)
		if at.IsZero() || d.Before(at) {
			at = d
		}
	}
	c.due = keep
	return at, !at.IsZero()
}

// errLivelock is what the controllers' proposer answers once they have
// written too much without the test getting a turn.
var errLivelock = errors.New("controllers keep writing at one instant")

// guardProposer stops controllers that write without end: without it a
// livelock would keep synctest.Wait from ever returning.
type guardProposer struct {
	*state.LocalProposer
	mu      sync.Mutex
	n       int
	tripped bool
}

func (g *guardProposer) Propose(ctx context.Context, cmd *state.Command) (state.Result, error) {
	g.mu.Lock()
	g.n++
	if g.n > 10000 {
		g.tripped = true
	}
	tripped := g.tripped
	g.mu.Unlock()
	if tripped {
		return state.Result{}, errLivelock
	}
	return g.LocalProposer.Propose(ctx, cmd)
}

// reset starts a new count, and reports whether the guard tripped.
func (g *guardProposer) reset() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n = 0
	return g.tripped
}

// opts describes the cluster and the service it starts with.
type opts struct {
	replicas uint64
	global   bool
	nodes    int // default 1
	update   *api.UpdateConfig
	rollback *api.UpdateConfig
	restart  *api.RestartPolicy
}

// check is an invariant, checked after every commit.
type check func(c *cluster, at time.Time) error

type cluster struct {
	t     tb
	store *state.Store
	prop  *state.LocalProposer
	guard *guardProposer // the controllers' proposer
	clock *recClock
	nodes []string
	svcID string
	spec1 api.ServiceSpec // the spec the service was created with

	// bad says how the agent runs a task; nil runs every task well.
	bad        func(*api.Task) mode
	crashAfter time.Duration
	// stopTook is how long a task takes to stop once told to (its stop
	// grace period); 0 stops it at once.
	stopTook time.Duration
	stopping map[string]time.Time // when the agent saw each task told to stop
	// skew is how far the agent's clock is from the leader's: its
	// reports carry times that far off.
	skew time.Duration
	rr   int
	// afterReport, when set, runs once right after the agent's next
	// report, before the controllers see it: a user's write that lands
	// between a task's end and the controllers' reaction to it.
	afterReport func()

	cancel context.CancelFunc
	done   chan error

	// What the test saw, commit by commit.
	sub        *state.Subscription
	view       map[string]*api.Task
	svc        *api.Service
	at         time.Time
	created    []*api.Task // every task of the service, as created
	createdNow []*api.Task // created in the commit being checked
	stoppedNow []*api.Task // unended tasks told to stop in it
	states     []string    // update states in order, repeats dropped
	checks     []check
	maxLive    int
}

// newCluster starts a cluster, its controllers and a service of spec
// version 1, and waits until the service runs.
func newCluster(t tb, o opts) *cluster {
	t.Helper()
	store := state.NewStore()
	c := &cluster{
		t:        t,
		store:    store,
		prop:     &state.LocalProposer{Store: store},
		clock:    &recClock{Fake: clock.NewFake(start)},
		view:     map[string]*api.Task{},
		stopping: map[string]time.Time{},
		svcID:    "svc1",
	}
	c.guard = &guardProposer{LocalProposer: c.prop}
	_, c.sub = store.Subscribe()
	n := max(o.nodes, 1)
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("node%d", i)
		c.nodes = append(c.nodes, id)
		c.write(state.Op{Kind: state.OpUpsertNode, Node: &api.Node{ID: id,
			Spec:        api.NodeSpec{Role: api.RoleWorker, Availability: api.AvailabilityActive},
			Description: api.NodeDescription{Runtimes: []string{api.RuntimeProcess}},
			Status:      api.NodeStatus{State: api.NodeStateReady}}})
	}
	mode := api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: o.replicas}}
	if o.global {
		mode = api.ServiceMode{Global: &api.GlobalService{}}
	}
	c.spec1 = api.ServiceSpec{
		Name: "web",
		Mode: mode,
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{Command: []string{"app"}, Args: []string{"v1"}},
			RestartPolicy: o.restart,
		},
		UpdateConfig:   o.update,
		RollbackConfig: o.rollback,
	}
	svc := &api.Service{ID: c.svcID, SpecVersion: 1, Revision: 1, Spec: cloneSpec(c.spec1),
		History: []api.ServiceVersion{{Revision: 1, SpecVersion: 1, CreatedAt: start, Change: "created", Spec: cloneSpec(c.spec1)}}}
	c.write(state.Op{Kind: state.OpCreateService, Service: svc})
	c.start()
	c.settle()
	if err := c.converged(1, c.want()); err != nil {
		c.close()
		t.Fatalf("service did not start: %v", err)
	}
	return c
}

// want is how many tasks the service runs when converged.
func (c *cluster) want() int {
	if c.spec1.Mode.IsGlobal() {
		return len(c.nodes)
	}
	return int(c.spec1.Mode.Replicas())
}

// start runs a fresh orchestrator and updater, as a new leader does.
func (c *cluster) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan error, 2)
	log := slog.New(slog.DiscardHandler)
	orch := &orchestrator.Orchestrator{Store: c.store, Proposer: c.guard, Clock: c.clock, Logger: log}
	upd := &Updater{Store: c.store, Proposer: c.guard, Clock: c.clock, Logger: log}
	go func() { c.done <- orch.Run(ctx) }()
	go func() { c.done <- upd.Run(ctx) }()
}

// stop ends the controllers, as a lost leadership does.
func (c *cluster) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	for i := 0; i < 2; i++ {
		if err := <-c.done; !errors.Is(err, context.Canceled) && !errors.Is(err, errLivelock) {
			c.t.Errorf("controller returned %v, want context.Canceled", err)
		}
	}
}

// close stops everything; deferred by every test.
func (c *cluster) close() {
	c.stop()
	c.sub.Close()
}

func (c *cluster) write(ops ...state.Op) {
	c.t.Helper()
	res, err := c.prop.Propose(context.Background(), &state.Command{Time: c.clock.Now(), Ops: ops})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, e := range res.OpErrs {
		if e != nil {
			c.t.Fatalf("write: %v", e)
		}
	}
}

func (c *cluster) report(t *api.Task, st api.TaskState, health, errMsg string) {
	var code *int
	if st.Terminal() {
		n := 0
		if st == api.TaskStateFailed {
			n = 1
		}
		code = &n
	}
	c.write(state.Op{Kind: state.OpTaskStatus, Report: &api.TaskReport{TaskID: t.ID,
		Status: api.TaskStatus{State: st, Timestamp: c.clock.Now().Add(c.skew), Message: st.String(), Err: errMsg, ExitCode: code, Health: health}}})
	if f := c.afterReport; f != nil {
		c.afterReport = nil
		f()
	}
}

func (c *cluster) modeOf(t *api.Task) mode {
	if c.bad == nil {
		return good
	}
	return c.bad(t)
}

// badVersion makes every task of spec version v run as m.
// badSlot runs slot's tasks of spec version v as m, every other task well.
func (c *cluster) badSlot(v, slot uint64, m mode) {
	c.bad = func(t *api.Task) mode {
		if t.SpecVersion == v && t.Slot == slot {
			return m
		}
		return good
	}
}

func (c *cluster) badVersion(v uint64, m mode) {
	prev := c.bad
	c.bad = func(t *api.Task) mode {
		if t.SpecVersion == v {
			return m
		}
		if prev != nil {
			return prev(t)
		}
		return good
	}
}

// agentStep plays scheduler and agent once over every task, and reports
// whether it wrote anything.
func (c *cluster) agentStep() bool {
	wrote := false
	now := c.clock.Now()
	for _, t := range c.store.Read().Tasks() {
		m := c.modeOf(t)
		switch {
		case t.Status.State.Terminal():
		case t.DesiredState > api.TaskStateRunning:
			if t.Status.State < api.TaskStateAssigned {
				break
			}
			seen, ok := c.stopping[t.ID]
			if !ok {
				seen = now
				c.stopping[t.ID] = now
				c.clock.addDue(now.Add(c.stopTook))
			}
			if !now.Before(seen.Add(c.stopTook)) {
				c.report(t, api.TaskStateShutdown, "", "")
				wrote = true
			}
		case t.Status.State == api.TaskStatePending:
			node := t.NodeID
			if node == "" {
				node = c.nodes[c.rr%len(c.nodes)]
				c.rr++
			}
			c.write(state.Op{Kind: state.OpAssignTask, ID: t.ID, NodeID: node})
			wrote = true
		case t.Status.State < api.TaskStateRunning:
			switch m {
			case unhealthy:
				c.report(t, api.TaskStateStarting, api.HealthStarting, "")
				c.report(t, api.TaskStateFailed, api.HealthUnhealthy, "health check failed")
			case crash:
				c.report(t, api.TaskStateRunning, api.HealthHealthy, "")
				c.report(t, api.TaskStateFailed, "", "exit status 1")
			case crashLate:
				c.report(t, api.TaskStateRunning, api.HealthHealthy, "")
				c.clock.addDue(now.Add(c.crashAfter))
			default:
				c.report(t, api.TaskStateRunning, api.HealthHealthy, "")
			}
			wrote = true
		case t.Status.State == api.TaskStateRunning && m == crashLate:
			if since, _ := t.RunningSince(); !now.Before(since.Add(c.crashAfter)) {
				c.report(t, api.TaskStateFailed, "", "exit status 1")
				wrote = true
			}
		}
	}
	return wrote
}

// settle lets the controllers and the agent run until none has anything
// left to do at the current time.
func (c *cluster) settle() {
	c.t.Helper()
	for i := 0; i < 1000; i++ {
		synctest.Wait()
		if c.guard.reset() {
			c.t.Fatal("no quiescence: the controllers keep writing at one instant")
		}
		c.observe()
		if !c.agentStep() {
			return
		}
	}
	c.t.Fatal("no quiescence after 1000 rounds: the controllers keep writing at one instant")
}

// advance moves the clock by d and settles.
func (c *cluster) advance(d time.Duration) {
	c.t.Helper()
	c.clock.Advance(d)
	c.settle()
}

// step moves the clock to the next due timer and settles; false if no timer
// is due.
func (c *cluster) step() bool {
	c.t.Helper()
	at, ok := c.clock.next()
	if !ok {
		return false
	}
	c.advance(at.Sub(c.clock.Now()))
	return true
}

// runUntil steps the clock until cond holds, for at most limit of fake time.
func (c *cluster) runUntil(what string, limit time.Duration, cond func() bool) {
	c.t.Helper()
	end := c.clock.Now().Add(limit)
	c.settle()
	for !cond() {
		at, ok := c.clock.next()
		if !ok || at.After(end) {
			c.t.Fatalf("%s did not happen within %v (update status %+v)\n%s", what, limit, c.status(), c.dump())
		}
		c.advance(at.Sub(c.clock.Now()))
	}
}

// runFor steps through every timer due within d, then moves to now+d.
func (c *cluster) runFor(d time.Duration) {
	c.t.Helper()
	end := c.clock.Now().Add(d)
	for {
		at, ok := c.clock.next()
		if !ok || at.After(end) {
			break
		}
		c.advance(at.Sub(c.clock.Now()))
	}
	c.advance(end.Sub(c.clock.Now()))
}

func (c *cluster) service() *api.Service { return c.store.Read().Service(c.svcID) }

func (c *cluster) status() api.UpdateStatus {
	if st := c.service().UpdateStatus; st != nil {
		return *st
	}
	return api.UpdateStatus{}
}

func (c *cluster) updateState() string { return c.status().State }

func (c *cluster) ended() bool {
	switch c.updateState() {
	case api.UpdateStateCompleted, api.UpdateStatePaused, api.UpdateStateRollbackCompleted, api.UpdateStateRollbackPaused:
		return true
	}
	return false
}

// deploy changes the spec as the manager's UpdateService does and returns
// the new spec version.
func (c *cluster) deploy(change func(*api.ServiceSpec)) uint64 {
	c.t.Helper()
	cur := c.service()
	spec := cloneSpec(cur.Spec)
	change(&spec)
	same := *cur // an identical update resumes a paused one
	next := &same
	if !api.SameJSON(spec, cur.Spec) {
		next = api.NextVersion(cur, spec, api.DescribeChange(&cur.Spec, &spec), c.clock.Now())
	} else if !cur.UpdatePaused() {
		return cur.SpecVersion
	}
	api.StartUpdate(cur, next, c.clock.Now())
	return c.writeService(cur, next)
}

// rollbackTo puts back the spec of revision rev as the manager's
// RollbackService does and returns the new spec version.
func (c *cluster) rollbackTo(rev uint64) uint64 {
	c.t.Helper()
	cur := c.service()
	var spec *api.ServiceSpec
	for i := range cur.History {
		if cur.History[i].Revision == rev {
			spec = &cur.History[i].Spec
		}
	}
	if spec == nil {
		c.t.Fatalf("rollback: no revision %d", rev)
	}
	next := api.NextVersion(cur, cloneSpec(*spec), fmt.Sprintf("rollback to revision %d", rev), c.clock.Now())
	if next.SpecVersion != cur.SpecVersion {
		now := c.clock.Now()
		next.UpdateStatus = &api.UpdateStatus{State: api.UpdateStateRollbackStarted, StartedAt: &now, Message: "manually requested rollback"}
	}
	return c.writeService(cur, next)
}

func (c *cluster) writeService(cur, next *api.Service) uint64 {
	c.t.Helper()
	res, err := c.prop.Propose(context.Background(), &state.Command{Time: c.clock.Now(), Atomic: true,
		Ops: []state.Op{{Kind: state.OpUpdateService, Service: next, ExpectVersion: cur.Version}}})
	if err != nil || res.Err != nil {
		c.t.Fatalf("write service: %v %v", err, res.Err)
	}
	return next.SpecVersion
}

// image deploys a new argument (a new "image tag") and returns the new
// spec version.
func (c *cluster) image(tag string) uint64 {
	return c.deploy(func(s *api.ServiceSpec) { s.TaskTemplate.ContainerSpec.Args = []string{tag} })
}

func cloneSpec(s api.ServiceSpec) api.ServiceSpec {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	var out api.ServiceSpec
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// observe replays the store's events commit by commit and checks the
// invariants after each.
func (c *cluster) observe() {
	c.t.Helper()
	evs, err := c.sub.Drain()
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i < len(evs); {
		idx := evs[i].Index
		c.createdNow, c.stoppedNow = nil, nil
		for ; i < len(evs) && evs[i].Index == idx; i++ {
			c.apply(evs[i])
		}
		live := 0
		for _, t := range c.view {
			if !t.Status.State.Terminal() {
				live++
			}
		}
		c.maxLive = max(c.maxLive, live)
		for _, ck := range c.checks {
			if err := ck(c, c.at); err != nil {
				c.t.Fatalf("at index %d (%v): %v\n%s", idx, c.at.Sub(start), err, c.dump())
			}
		}
	}
}

func (c *cluster) apply(ev api.Event) {
	switch ev.Type {
	case api.EventService:
		if ev.ID != c.svcID || ev.Service == nil {
			return
		}
		c.svc = ev.Service
		if ev.Service.UpdatedAt.After(c.at) {
			c.at = ev.Service.UpdatedAt
		}
		if st := ev.Service.UpdateStatus; st != nil && (len(c.states) == 0 || c.states[len(c.states)-1] != st.State) {
			c.states = append(c.states, st.State)
		}
	case api.EventTask:
		t := ev.Task
		if t == nil || t.ServiceID != c.svcID {
			return
		}
		if ev.Action == api.ActionRemove {
			delete(c.view, t.ID)
			return
		}
		if t.UpdatedAt.After(c.at) {
			c.at = t.UpdatedAt
		}
		prev := c.view[t.ID]
		if prev == nil {
			c.created = append(c.created, t)
			c.createdNow = append(c.createdNow, t)
		} else if prev.DesiredState <= api.TaskStateRunning && t.DesiredState > api.TaskStateRunning && !prev.Status.State.Terminal() {
			c.stoppedNow = append(c.stoppedNow, t)
		}
		c.view[t.ID] = t
	}
}

func (c *cluster) dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "service v%d status %+v\n", c.svc.SpecVersion, c.svc.UpdateStatus)
	ts := make([]*api.Task, 0, len(c.view))
	for _, t := range c.view {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool {
		if key(ts[i]) != key(ts[j]) {
			return key(ts[i]) < key(ts[j])
		}
		return ts[i].CreatedAt.Before(ts[j].CreatedAt)
	})
	for _, t := range ts {
		fmt.Fprintf(&b, "  %s %s v%d desired=%s state=%s created=%v\n", key(t), t.ID, t.SpecVersion, t.DesiredState, t.Status.State, t.CreatedAt.Sub(start))
	}
	return b.String()
}

// key names a task's slot: its number, or its node for a global service.
func key(t *api.Task) string {
	if t.Slot == 0 {
		return "node/" + t.NodeID
	}
	return fmt.Sprintf("slot/%d", t.Slot)
}

// slots groups the seen tasks of the service by slot.
func (c *cluster) slots() map[string][]*api.Task {
	out := map[string][]*api.Task{}
	for _, t := range c.view {
		out[key(t)] = append(out[key(t)], t)
	}
	return out
}

// tasks returns the service's tasks now in the store.
func (c *cluster) tasks() []*api.Task { return c.store.Read().TasksByService(c.svcID) }

// converged checks that exactly want tasks run, one per slot, all of spec
// version v, and nothing else is live or still stopping.
func (c *cluster) converged(v uint64, want int) error {
	bySlot := map[string]int{}
	for _, t := range c.tasks() {
		if t.Status.State.Terminal() {
			continue
		}
		if !t.Live() {
			return fmt.Errorf("task %s of %s is still %s with desired %s", t.ID, key(t), t.Status.State, t.DesiredState)
		}
		if t.Status.State != api.TaskStateRunning {
			return fmt.Errorf("task %s of %s is %s, not running", t.ID, key(t), t.Status.State)
		}
		if t.SpecVersion != v {
			return fmt.Errorf("task %s of %s runs spec version %d, want %d", t.ID, key(t), t.SpecVersion, v)
		}
		bySlot[key(t)]++
	}
	for k, n := range bySlot {
		if n != 1 {
			return fmt.Errorf("%s has %d running tasks", k, n)
		}
	}
	if len(bySlot) != want {
		return fmt.Errorf("%d slots run a task, want %d: %v", len(bySlot), want, bySlot)
	}
	return nil
}

// running returns the service's running tasks by slot.
func (c *cluster) running() map[string]*api.Task {
	out := map[string]*api.Task{}
	for _, t := range c.tasks() {
		if t.Status.State == api.TaskStateRunning {
			if o := out[key(t)]; o != nil {
				c.t.Fatalf("%s runs two tasks: %s and %s", key(t), o.ID, t.ID)
			}
			out[key(t)] = t
		}
	}
	return out
}

// countVersion counts the running tasks of spec version v.
func (c *cluster) countRunning(v uint64) int {
	n := 0
	for _, t := range c.running() {
		if t.SpecVersion == v {
			n++
		}
	}
	return n
}

// createdOf counts the tasks of spec version v ever created.
func (c *cluster) createdOf(v uint64) int {
	n := 0
	for _, t := range c.created {
		if t.SpecVersion == v {
			n++
		}
	}
	return n
}

// firstOf returns the first task of spec version v made.
func (c *cluster) firstOf(v uint64) *api.Task {
	for _, t := range c.created {
		if t.SpecVersion == v {
			return t
		}
	}
	return nil
}

// failedOf returns the IDs of the tasks of version v that failed.
func (c *cluster) failedOf(v uint64) []string {
	var ids []string
	for _, t := range c.tasks() {
		if t.SpecVersion == v && t.Status.State == api.TaskStateFailed {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// statesSince returns the update states seen from index i of c.states.
func (c *cluster) statesSince(i int) []string { return append([]string(nil), c.states[i:]...) }

// --- invariants ---

// oneLivePerSlot: stop-first never has two unended tasks in a slot; the
// old one has stopped before its replacement exists.
func oneLivePerSlot(c *cluster, _ time.Time) error {
	for _, t := range c.createdNow {
		for _, o := range c.slots()[key(t)] {
			if o.ID != t.ID && !o.Status.State.Terminal() {
				return fmt.Errorf("task %s (v%d) created in %s while %s (v%d) is still %s", t.ID, t.SpecVersion, key(t), o.ID, o.SpecVersion, o.Status.State)
			}
		}
	}
	for k, ts := range c.slots() {
		n := 0
		for _, t := range ts {
			if !t.Status.State.Terminal() {
				n++
			}
		}
		if n > 1 {
			return fmt.Errorf("%s has %d unended tasks", k, n)
		}
	}
	return nil
}

// inFlightAtMost: at most n slots are between losing their old task (or
// getting a new one) and their new task passing the monitor window. It
// counts from a fresh cluster: every stopped task is the update's doing.
func inFlightAtMost(n int, v uint64, monitor time.Duration) check {
	return func(c *cluster, at time.Time) error {
		if k := inFlight(c, v, monitor, at); k > n {
			return fmt.Errorf("%d slots in flight, want at most %d", k, n)
		}
		return nil
	}
}

func inFlight(c *cluster, v uint64, monitor time.Duration, at time.Time) int {
	k := 0
	for _, ts := range c.slots() {
		touched, passed := false, false
		var newest *api.Task
		for _, t := range ts {
			switch {
			case t.SpecVersion >= v:
				touched = true
				if newest == nil || t.CreatedAt.After(newest.CreatedAt) {
					newest = t
				}
			case t.DesiredState > api.TaskStateRunning:
				touched = true
			}
		}
		if newest != nil {
			since, ran := newest.RunningSince()
			passed = newest.Status.State.Terminal() ||
				(ran && newest.Status.State == api.TaskStateRunning && at.Sub(since) >= monitor)
		}
		if touched && !passed {
			k++
		}
	}
	return k
}

// runningAtLeast: never fewer than n tasks running.
func runningAtLeast(n int) check {
	return func(c *cluster, _ time.Time) error {
		k := 0
		for _, t := range c.view {
			if t.Status.State == api.TaskStateRunning {
				k++
			}
		}
		if k < n {
			return fmt.Errorf("%d tasks running, want at least %d", k, n)
		}
		return nil
	}
}

// liveAtMost: never more than n unended tasks.
func liveAtMost(n int) check {
	return func(c *cluster, _ time.Time) error {
		k := 0
		for _, t := range c.view {
			if !t.Status.State.Terminal() {
				k++
			}
		}
		if k > n {
			return fmt.Errorf("%d unended tasks, want at most %d", k, n)
		}
		return nil
	}
}

// startFirstOrder: once the service is at spec version v, an older task is
// told to stop only when a task of version v or later runs in its slot.
func startFirstOrder(v uint64) check {
	return func(c *cluster, _ time.Time) error {
		if c.svc.SpecVersion < v {
			return nil // not yet the update in question
		}
		for _, t := range c.stoppedNow {
			if t.SpecVersion >= v {
				continue
			}
			ok := false
			for _, n := range c.slots()[key(t)] {
				ok = ok || (n.SpecVersion >= v && n.Status.State == api.TaskStateRunning)
			}
			if !ok {
				return fmt.Errorf("%s (v%d) of %s told to stop before its replacement runs", t.ID, t.SpecVersion, key(t))
			}
		}
		return nil
	}
}

// completesConverged: an update or rollback is marked completed only when
// every slot runs a task of the service's spec version (for tests where no
// task fails).
func completesConverged(replicas int) check {
	last := ""
	return func(c *cluster, _ time.Time) error {
		if c.svc == nil || c.svc.UpdateStatus == nil {
			return nil
		}
		st := c.svc.UpdateStatus.State
		if st == last {
			return nil
		}
		last = st
		if st != api.UpdateStateCompleted && st != api.UpdateStateRollbackCompleted {
			return nil
		}
		for s := 1; s <= replicas; s++ {
			ok := false
			for _, t := range c.slots()[fmt.Sprintf("slot/%d", s)] {
				ok = ok || (t.SpecVersion == c.svc.SpecVersion && t.Status.State == api.TaskStateRunning && t.Live())
			}
			if !ok {
				return fmt.Errorf("%s while slot %d runs no task of spec version %d", st, s, c.svc.SpecVersion)
			}
		}
		return nil
	}
}
