// Package sim runs the real manager (Raft, store, controllers, dispatcher)
// with many simulated agents in one process. A simulated agent speaks the
// agent protocol the in-process agent of `shoal dev` speaks (register,
// assignments, reports, heartbeats on a dispatcher session) but runs
// nothing: it reports its tasks starting and running after a delay, and
// stopped when told to stop. The scale benchmarks in bench/ drive it.
package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/dispatcher"
)

// Delays are how long a simulated agent takes for each step; each delay
// is drawn uniformly between half and one and a half times the value.
type Delays struct {
	// Accept is from an assignment to the task's "starting" report.
	Accept time.Duration
	// Start is from "starting" to "running" (a container's start).
	Start time.Duration
	// Stop is from a stop order to "shutdown".
	Stop time.Duration
}

// Agent is one simulated node.
type Agent struct {
	reg api.NodeRegistration
	// d is the dispatcher of the manager that runs now.
	d      *atomic.Pointer[dispatcher.Dispatcher]
	delays Delays
	beats  *lateness

	mu    sync.Mutex
	queue []api.TaskReport
	wake  chan struct{}
	// tasks are the states this agent reported (or will report) last.
	tasks map[string]api.TaskState

	cancel context.CancelFunc
	done   chan struct{}
	// dead is set by Kill.
	dead atomic.Bool
}

func newAgent(d *atomic.Pointer[dispatcher.Dispatcher], reg api.NodeRegistration, delays Delays, beats *lateness) *Agent {
	return &Agent{reg: reg, d: d, delays: delays, beats: beats, wake: make(chan struct{}, 1), tasks: map[string]api.TaskState{}}
}

// NodeID is the simulated node's ID.
func (a *Agent) NodeID() string { return a.reg.NodeID }

// start runs the agent until Kill or ctx ends.
func (a *Agent) start(ctx context.Context) {
	ctx, a.cancel = context.WithCancel(ctx)
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		a.run(ctx)
	}()
}

// Kill stops the agent as a crash would: no more beats or reports; the
// managers find out from the missing heartbeats.
func (a *Agent) Kill() {
	a.dead.Store(true)
	a.cancel()
	<-a.done
}

// run keeps a session open: it registers, and registers again when the
// session ends, until ctx ends.
func (a *Agent) run(ctx context.Context) {
	for ctx.Err() == nil {
		sess, err := a.d.Load().Register(ctx, a.reg)
		if err == nil {
			a.serve(ctx, sess)
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// serve runs one session: its assignments, heartbeats and reports. A
// crash (ctx ending) does not close the session, as a dead node would not.
func (a *Agent) serve(ctx context.Context, sess *dispatcher.Session) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel()
		due := time.Now()
		for {
			period, err := sess.Heartbeat(sctx)
			if err != nil {
				return
			}
			// How late the beat landed: the timer's lateness and the
			// call's time.
			done := time.Now()
			a.beats.add(done.Sub(due))
			due = done.Add(period)
			t := time.NewTimer(period)
			select {
			case <-sctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer cancel()
		a.sendReports(sctx, sess)
	}()
	for {
		as, err := sess.Assignments(sctx)
		if err != nil {
			break
		}
		a.apply(sctx, as)
	}
	cancel()
	wg.Wait()
	if ctx.Err() == nil {
		sess.Close()
	}
}

// apply starts the tasks new to the agent and stops those told to stop.
func (a *Agent) apply(ctx context.Context, as api.Assignments) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if as.Full {
		keep := map[string]bool{}
		for _, t := range as.Tasks {
			keep[t.ID] = true
		}
		for id := range a.tasks {
			if !keep[id] {
				delete(a.tasks, id)
			}
		}
	}
	for _, id := range as.Removed {
		delete(a.tasks, id)
	}
	for _, t := range as.Tasks {
		have, known := a.tasks[t.ID]
		switch {
		case t.DesiredState <= api.TaskStateRunning && !known && !t.Status.State.Terminal():
			a.tasks[t.ID] = api.TaskStateRunning
			id := t.ID
			a.later(ctx, jitter(a.delays.Accept), func() {
				a.report(id, api.TaskStateStarting)
				a.later(ctx, jitter(a.delays.Start), func() { a.report(id, api.TaskStateRunning) })
			})
		case t.DesiredState > api.TaskStateRunning && (!known || have <= api.TaskStateRunning) && !t.Status.State.Terminal():
			a.tasks[t.ID] = api.TaskStateShutdown
			id := t.ID
			a.later(ctx, jitter(a.delays.Stop), func() { a.report(id, api.TaskStateShutdown) })
		}
	}
}

// later runs f after d unless ctx ended by then.
func (a *Agent) later(ctx context.Context, d time.Duration, f func()) {
	time.AfterFunc(d, func() {
		if ctx.Err() == nil {
			f()
		}
	})
}

// report queues a report unless the task moved on meanwhile (a start
// overtaken by a stop).
func (a *Agent) report(id string, st api.TaskState) {
	a.mu.Lock()
	want, ok := a.tasks[id]
	if !ok || (st <= api.TaskStateRunning && want > api.TaskStateRunning) {
		a.mu.Unlock()
		return
	}
	rep := api.TaskReport{TaskID: id, Status: api.TaskStatus{State: st, Timestamp: time.Now().UTC(), Message: st.String()}}
	if st == api.TaskStateRunning {
		rep.Status.RuntimeID = fmt.Sprintf("sim-%s", id)
	}
	a.queue = append(a.queue, rep)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// sendReports sends the queue in batches of at most api.MaxReportBatch,
// as the real agent's reporter does.
func (a *Agent) sendReports(ctx context.Context, sess *dispatcher.Session) {
	for {
		a.mu.Lock()
		batch := a.queue[:min(len(a.queue), api.MaxReportBatch)]
		a.queue = a.queue[len(batch):]
		a.mu.Unlock()
		if len(batch) > 0 {
			if err := sess.Report(ctx, batch); err != nil {
				a.mu.Lock()
				a.queue = append(batch[:len(batch):len(batch)], a.queue...)
				a.mu.Unlock()
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
	}
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d)
}

// lateness records how late heartbeats land, for a percentile.
type lateness struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *lateness) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// take returns the recorded latenesses and starts afresh.
func (l *lateness) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.d
	l.d = nil
	return d
}
