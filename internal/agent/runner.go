package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// runner drives one task through its life on this node: start, watch,
// stop. It only moves the task's state forward, and reports each move.
type runner struct {
	id      string
	rt      runtime.Runtime
	reports *reporter
	log     *slog.Logger

	mu      sync.Mutex
	task    *api.Task // latest version from the managers
	changed chan struct{}
	// adopted is the handle of a task that survived an agent restart.
	adopted *runtime.Handle
	// files returns the task's configs and secrets as runtime files.
	files func(*api.Task) ([]runtime.File, error)
	// net plumbs the task into its networks (nil: networking off), from
	// the networks networks returns.
	net      Networker
	networks func(*api.Task) map[string]*api.Network
	// netOff says why net is nil.
	netOff string
	// drain is the wait between the stop request and the stop signal for
	// a task with endpoints.
	drain time.Duration
	// node is this node, for the Swarm templates of the task's spec.
	node api.NodeDescription
	// unreachable is how long a running task may miss a published port
	// before it is failed (see reach).
	unreachable time.Duration
	// last is the last status sent of a task that has not ended. Guarded
	// by mu.
	last *api.TaskStatus
	// final is how the task ended, as sent, and finalN its report's
	// number. Guarded by mu.
	final  *api.TaskStatus
	finalN uint64
	// recheck is set while a reassert waits for the end's report to be
	// delivered.
	recheck bool
	done    chan struct{}
}

func newRunner(t *api.Task, rt runtime.Runtime, reports *reporter, log *slog.Logger) *runner {
	return &runner{id: t.ID, rt: rt, reports: reports, log: log, task: t, changed: make(chan struct{}, 1), done: make(chan struct{}), unreachable: DefaultUnreachableGrace}
}

// update gives the runner the task's latest version.
func (r *runner) update(t *api.Task) {
	r.mu.Lock()
	r.task = t
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *runner) current() *api.Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.task
}

func (r *runner) wantsStop() bool { return r.current().DesiredState > api.TaskStateRunning }

func (r *runner) send(st api.TaskStatus, eps []api.TaskEndpoint) {
	if st.Timestamp.IsZero() {
		st.Timestamp = time.Now().UTC()
	}
	// Under mu, so that reassert never sees a final status without its
	// report's number.
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.reports.add(api.TaskReport{TaskID: r.id, Status: st, Endpoints: eps})
	if st.State.Terminal() {
		r.final, r.finalN = &st, n
	} else {
		r.last = &st
	}
}

// reassert sends again how the task ended when t, the managers' latest
// version, still holds it as not ended although they took the report of
// its end: the node's runtime is the truth on that, and a report that
// never reached the store (taken but dropped, or lost with a leader)
// would otherwise leave a task that ended "running" for good, and its
// removal waiting on it. A version of t older than the report's entry
// sends a copy the managers refuse as stale: at most one report per
// assignment change of the task.
//
// The managers' version may come while the end's report is still on its
// way: it is then looked at again, as the runner has it by then, once
// the report is delivered (and maybe lost after all).
func (r *runner) reassert(t *api.Task) {
	r.mu.Lock()
	final, n := r.final, r.finalN
	if final == nil || t.Status.State.Terminal() {
		r.mu.Unlock()
		return
	}
	if !r.reports.delivered(n) {
		wait := !r.recheck
		r.recheck = true
		r.mu.Unlock()
		if wait {
			r.reports.whenDelivered(n, func() {
				r.mu.Lock()
				r.recheck = false
				r.mu.Unlock()
				r.reassert(r.current())
			})
		}
		return
	}
	r.mu.Unlock()
	r.log.Info("the managers hold a task that ended as not ended: reporting its end again", "task", r.id, "managers", t.Status.State, "ended", final.State)
	r.send(*final, nil)
}

// run is the task's life. ctx ends when the agent stops: the task is then
// left running, to be adopted by the next agent.
func (r *runner) run(ctx context.Context) {
	defer close(r.done)
	t := r.current()
	var h runtime.Handle
	if r.adopted != nil {
		h = *r.adopted
	} else {
		var ok bool
		if h, ok = r.start(ctx, t); !ok {
			return
		}
	}
	exited := make(chan runtime.ExitStatus, 1)
	waitCtx, cancelWait := context.WithCancel(context.Background())
	defer cancelWait()
	go func() {
		st, err := r.rt.Wait(waitCtx, r.id)
		if err != nil {
			if waitCtx.Err() != nil {
				return
			}
			st = runtime.ExitStatus{ExitCode: -1, Message: fmt.Sprintf("lost track of the task: %v", err)}
		}
		exited <- st
	}()

	if r.networked(t) {
		if err := r.attach(ctx, t); err != nil {
			if ctx.Err() != nil {
				return // the agent stops: the next one attaches it
			}
			select {
			case st := <-exited: // it ended before it could be plumbed
				r.exitedWith(h, st)
				return
			default:
			}
			r.stopAndReport("stop task whose networks failed", api.TaskStatus{State: api.TaskStateFailed,
				Message: "attaching the task to its networks failed", Err: err.Error(), RuntimeID: h.RuntimeID})
			r.detach()
			return
		}
		// Once the task has stopped, not when the agent does: the next
		// agent adopts a running task's plumbing.
		defer func() {
			if ctx.Err() == nil {
				r.detach()
			}
		}()
	}
	// A task with a health check is running only once healthy.
	health := r.watchHealth(waitCtx, t, h)
	// Where it is reached is read again whenever it may have changed.
	rc := r.watchReach(waitCtx, t, h)
	defer rc.stop()
	if rc.changes == nil && r.adopted != nil {
		// No runtime watch to read it again: what the runtime listed as
		// the agent started is this agent's reading, confirmed now.
		r.moved(rc, &h, h)
	}
	running := t.Status.State == api.TaskStateRunning && r.adopted != nil
	switch {
	case health == nil && !running:
		r.send(api.TaskStatus{State: api.TaskStateRunning, Message: "started", RuntimeID: h.RuntimeID}, h.Endpoints)
		running = true
	case health != nil && !running:
		r.send(api.TaskStatus{State: api.TaskStateStarting, Message: "waiting for the health check", RuntimeID: h.RuntimeID, Health: api.HealthStarting}, h.Endpoints)
	}
	for {
		if r.wantsStop() {
			r.stop(h, exited)
			return
		}
		select {
		case <-ctx.Done():
			return
		case st := <-exited:
			r.exitedWith(h, st)
			return
		case u, ok := <-health:
			if !ok {
				health = nil
				continue
			}
			switch u.status {
			case api.HealthHealthy:
				if !running {
					running = true
					r.send(api.TaskStatus{State: api.TaskStateRunning, Message: "started", RuntimeID: h.RuntimeID, Health: api.HealthHealthy}, h.Endpoints)
				}
			case api.HealthUnhealthy:
				r.failUnhealthy(h, u.output)
				return
			}
		case fresh, ok := <-rc.changes:
			if !ok {
				rc.changes = nil
				continue
			}
			r.moved(rc, &h, fresh)
		case <-rc.lostC:
			r.failUnreachable(rc, h)
			return
		case <-r.changed:
		}
	}
}

// watchHealth starts following the task's health: the agent's own checks
// for a runtime that can exec in the task, or the runtime's report (the
// engine's checks for containers). It returns nil for a task without a
// health check.
func (r *runner) watchHealth(ctx context.Context, t *api.Task, h runtime.Handle) <-chan healthUpdate {
	started := h.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	if hr, ok := r.rt.(runtime.HealthReader); ok {
		ch, err := hr.Health(ctx, r.id)
		if err != nil {
			r.log.Warn("read task health", "task", r.id, "err", err)
			return nil
		}
		return healthFromRuntime(ctx, ch)
	}
	cfg, ok := healthOf(t.Spec.ContainerSpec.Healthcheck)
	ex, canExec := r.rt.(runtime.Execer)
	if !ok || !canExec {
		return nil
	}
	return checkHealth(ctx, cfg, started, func(ctx context.Context, argv []string) (int, []byte, error) {
		return ex.Exec(ctx, r.id, argv)
	})
}

// healthFromRuntime turns a runtime's health statuses into updates. A first
// status of "" means the task has no health check: nil is returned then.
func healthFromRuntime(ctx context.Context, in <-chan string) <-chan healthUpdate {
	var first string
	select {
	case s, ok := <-in:
		if !ok || s == "" {
			return nil
		}
		first = s
	case <-ctx.Done():
		return nil
	}
	out := make(chan healthUpdate, 1)
	out <- healthUpdate{status: first}
	go func() {
		defer close(out)
		for s := range in {
			select {
			case out <- healthUpdate{status: s}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// failUnhealthy stops a task whose health check failed and reports it
// failed with the check's last output.
func (r *runner) failUnhealthy(h runtime.Handle, output string) {
	msg := "task: unhealthy container"
	if output != "" {
		msg += ": " + output
	}
	r.stopAndReport("stop unhealthy task", api.TaskStatus{State: api.TaskStateFailed, Message: "health check failed", Err: msg, RuntimeID: h.RuntimeID, Health: api.HealthUnhealthy})
}

// start walks the task from assigned to started. It reports false when the
// task ended instead (rejected, failed, or shut down before it started).
func (r *runner) start(ctx context.Context, t *api.Task) (runtime.Handle, bool) {
	for _, s := range []api.TaskState{api.TaskStateAccepted, api.TaskStatePreparing, api.TaskStateStarting} {
		if t.Status.State >= s {
			continue
		}
		if r.wantsStop() {
			r.send(api.TaskStatus{State: api.TaskStateShutdown, Message: "shut down before it started"}, nil)
			return runtime.Handle{}, false
		}
		r.send(api.TaskStatus{State: s, Message: s.String()}, nil)
	}
	// Swarm templates ({{.Node.ID}}, …) are expanded here, where the node
	// is known, as swarmkit's agent does; the managers refused templates
	// that can't expand, so this fails only for a spec they never checked.
	container, err := api.ExpandTemplates(t.Spec.ContainerSpec, api.NewTemplateContext(t, r.node))
	if err != nil {
		r.send(api.TaskStatus{State: api.TaskStateRejected, Message: "expanding the task's templates failed", Err: err.Error()}, nil)
		return runtime.Handle{}, false
	}
	spec := runtime.TaskSpec{
		TaskID:      t.ID,
		ServiceID:   t.ServiceID,
		ServiceName: t.ServiceName,
		Name:        t.FullName(),
		Slot:        t.Slot,
		NodeID:      t.NodeID,
		Container:   container,
		Resources:   t.Spec.Resources,
		Labels:      map[string]string{"com.shoal.service.name": t.ServiceName, "com.shoal.task.name": t.FullName()},
	}
	if t.Endpoint != nil {
		spec.Ports = t.Endpoint.Ports
	}
	spec.Ports = api.RoutedPorts(spec.Ports, t.ServiceLabels)
	sb, err := r.sandbox(t)
	if err != nil {
		r.send(api.TaskStatus{State: api.TaskStateRejected, Message: "preparing the task's networks failed", Err: err.Error()}, nil)
		return runtime.Handle{}, false
	}
	spec.Sandbox = sb
	if r.files != nil {
		files, err := r.files(t)
		if err != nil {
			r.send(api.TaskStatus{State: api.TaskStateRejected, Message: "preparing the task's files failed", Err: err.Error()}, nil)
			return runtime.Handle{}, false
		}
		spec.Files = files
	}
	h, err := r.rt.Start(ctx, spec)
	if err != nil {
		state, msg := api.TaskStateFailed, err.Error()
		if errors.Is(err, runtime.ErrRejected) {
			state = api.TaskStateRejected
			// The cause is what a user acts on, not the wrapping.
			if _, cause, ok := strings.Cut(msg, runtime.ErrRejected.Error()+": "); ok {
				msg = cause
			}
		}
		r.send(api.TaskStatus{State: state, Message: "starting the task failed", Err: msg}, nil)
		return runtime.Handle{}, false
	}
	return h, true
}

// stop stops the task gracefully because the managers want it stopped.
// A task others reach (published ports, or networks, where it is behind
// its service's VIP and name) first gets the drain delay: the ingress and
// every task's VIP map drop it on the same change, and connections opened
// before then are served, not refused.
func (r *runner) stop(h runtime.Handle, exited <-chan runtime.ExitStatus) {
	if r.drain > 0 && (len(h.Endpoints) > 0 || len(r.current().NetworksAttachments) > 0) {
		timer := time.NewTimer(r.drain)
		select {
		case <-timer.C:
		case <-exited:
		}
		timer.Stop()
	}
	r.stopAndReport("stop task", api.TaskStatus{State: api.TaskStateShutdown, Message: "shutdown", RuntimeID: h.RuntimeID})
}

// stopAndReport stops the task within its stop grace period and reports st
// with the exit code it ended with.
func (r *runner) stopAndReport(what string, st api.TaskStatus) {
	grace := stopGrace(r.current())
	ctx, cancel := context.WithTimeout(context.Background(), grace+30*time.Second)
	defer cancel()
	if err := r.rt.Stop(ctx, r.id, grace); err != nil {
		r.log.Warn(what, "task", r.id, "err", err)
	}
	if ex, err := r.rt.Wait(ctx, r.id); err == nil {
		code := ex.ExitCode
		st.ExitCode = &code
	}
	r.send(st, nil)
}

// exitedWith reports a task that ended on its own.
func (r *runner) exitedWith(h runtime.Handle, ex runtime.ExitStatus) {
	code := ex.ExitCode
	st := api.TaskStatus{State: api.TaskStateComplete, Message: "finished", ExitCode: &code, RuntimeID: h.RuntimeID}
	if r.wantsStop() {
		st.State, st.Message = api.TaskStateShutdown, "shutdown"
	} else if code != 0 {
		// The error reads as Swarm's; how it ended goes in the message.
		st.State = api.TaskStateFailed
		st.Message = ex.Message
		st.Err = exitErr(code)
		if code < 0 {
			st.Err = "task: " + ex.Message
		}
	}
	if !ex.ExitedAt.IsZero() {
		st.Timestamp = ex.ExitedAt.UTC()
	}
	r.send(st, nil)
}

// exitErr is the error of a task that exited with code, as Swarm words it:
// "task: non-zero exit (137)"; none for 0.
func exitErr(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprintf("task: non-zero exit (%d)", code)
}
