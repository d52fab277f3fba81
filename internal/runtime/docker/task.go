package docker

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// task is one task's container, as this Runtime knows it.
type task struct {
	id          string
	containerID string

	// verifyMu serialises inspections that verify the task's state.
	verifyMu sync.Mutex
	// verified is set once the container was inspected after the task was
	// registered, so that events tell the rest. Guarded by verifyMu.
	verified bool
	// refreshMu serialises refresh's inspections with what they record,
	// so that an older inspection never overwrites a newer one.
	refreshMu sync.Mutex

	mu        sync.Mutex
	endpoints []api.TaskEndpoint
	startedAt time.Time
	// health are the task's Health readers, and watchers its Watch
	// readers' wake-ups. Guarded by mu.
	health   []*healthSub
	watchers []chan struct{}

	// done is closed when the container has exited or is gone; status is
	// set before.
	done     chan struct{}
	doneOnce sync.Once
	status   runtime.ExitStatus
	// ended runs once the task has ended.
	ended func()
}

// newTask records a task's container. Once it has ended, its configs and
// secrets are deleted: the container never runs again, and they should
// not outlive it on the node until the task is removed.
func (r *Runtime) newTask(id, containerID string) *task {
	return &task{id: id, containerID: containerID, done: make(chan struct{}), ended: func() { r.releaseFiles(id) }}
}

// exited reports whether the task has ended.
func (t *task) exited() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// handle describes the task.
func (t *task) handle() runtime.Handle {
	t.mu.Lock()
	defer t.mu.Unlock()
	return runtime.Handle{
		TaskID:    t.id,
		RuntimeID: t.containerID,
		Running:   !t.exited(),
		Endpoints: slices.Clone(t.endpoints),
		StartedAt: t.startedAt,
	}
}

// finish records how the task ended and wakes its waiters; the first call
// wins.
func (t *task) finish(st runtime.ExitStatus) {
	t.doneOnce.Do(func() {
		if st.ExitedAt.IsZero() {
			st.ExitedAt = time.Now()
		}
		t.status = st
		// Before the waiters wake: whoever sees the task ended sees
		// its files gone.
		if t.ended != nil {
			t.ended()
		}
		close(t.done)
	})
}

// register records a task, or returns the one already recorded under its
// ID. r.mu must be held.
func (r *Runtime) register(t *task) *task {
	if old := r.tasks[t.id]; old != nil {
		return old
	}
	r.tasks[t.id] = t
	r.byContainer[t.containerID] = t
	return t
}

// unregister forgets a task. r.mu must be held.
func (r *Runtime) unregister(t *task) {
	if r.tasks[t.id] == t {
		delete(r.tasks, t.id)
	}
	if r.byContainer[t.containerID] == t {
		delete(r.byContainer, t.containerID)
	}
}

// lookup returns the task with the given ID: one this Runtime knows, or one
// whose container it finds (adopting it).
func (r *Runtime) lookup(ctx context.Context, id string) (*task, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrUnknownTask, err)
	}
	r.mu.Lock()
	if r.isClosed() {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	t := r.tasks[id]
	starting := r.starting[id]
	r.mu.Unlock()
	if t == nil {
		if starting {
			return nil, fmt.Errorf("%w: task is still starting", runtime.ErrUnknownTask)
		}
		res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{
			All: true,
			Filters: client.Filters{}.Add("label",
				LabelNodeID+"="+r.nodeID, LabelTaskID+"="+id),
		})
		if err != nil {
			return nil, err
		}
		if len(res.Items) == 0 {
			return nil, runtime.ErrUnknownTask
		}
		// There is one container per task; should there be more, the
		// newest is the task.
		c := slices.MaxFunc(res.Items, func(a, b container.Summary) int { return cmp.Compare(a.Created, b.Created) })
		r.mu.Lock()
		t = r.register(r.newTask(id, c.ID))
		r.mu.Unlock()
	}
	if err := r.verify(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// verify inspects the container of a task not yet inspected since it was
// registered: from then on the events tell what it does, but it may have
// exited before.
func (r *Runtime) verify(ctx context.Context, t *task) error {
	t.verifyMu.Lock()
	defer t.verifyMu.Unlock()
	if t.verified || t.exited() {
		return nil
	}
	if err := r.refresh(ctx, t); err != nil {
		return err
	}
	t.verified = true
	return nil
}

// refresh inspects the task's container, records its endpoints and start
// time, and finishes the task if the container no longer runs or is gone.
func (r *Runtime) refresh(ctx context.Context, t *task) error {
	t.refreshMu.Lock()
	defer t.refreshMu.Unlock()
	res, err := r.cli.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			t.finish(removedStatus(-1, time.Now()))
			return nil
		}
		return fmt.Errorf("inspect container %s: %w", shortID(t.containerID), err)
	}
	c := res.Container
	if c.State == nil {
		return fmt.Errorf("inspect container %s: no state", shortID(t.containerID))
	}
	t.mu.Lock()
	if running(c.State) {
		// What the container holds now, none included: a container
		// disconnected from its network has lost its host ports. One that
		// ended keeps the endpoints it had, for its handle.
		t.endpoints = r.endpointsOf(c)
	}
	if at := parseTime(c.State.StartedAt); !at.IsZero() {
		t.startedAt = at
	}
	t.mu.Unlock()
	if !running(c.State) {
		t.finish(exitStatusOf(c.State))
	}
	return nil
}

// recheck refreshes every task not known to have ended, after events may
// have been missed.
func (r *Runtime) recheck() {
	r.mu.Lock()
	var ts []*task
	for _, t := range r.tasks {
		if !t.exited() {
			ts = append(ts, t)
		}
	}
	r.mu.Unlock()
	for _, t := range ts {
		ctx, cancel := context.WithTimeout(r.ctx, inspectTimeout)
		if err := r.refresh(ctx, t); err != nil && !r.isClosed() {
			r.log.Warn("inspect container after missed events", "task", t.id, "err", err)
		}
		cancel()
		// Its ports may have changed too.
		t.poke()
	}
}

// handleEvent applies one engine event to the task it concerns.
func (r *Runtime) handleEvent(m events.Message) {
	cid := m.Actor.ID
	switch m.Type {
	case events.ContainerEventType:
	case events.NetworkEventType:
		// The actor is the network; the container is an attribute.
		cid = m.Actor.Attributes["container"]
	default:
		return
	}
	r.mu.Lock()
	t := r.byContainer[cid]
	r.mu.Unlock()
	if t == nil {
		return
	}
	at := time.Now()
	if m.TimeNano != 0 {
		at = time.Unix(0, m.TimeNano)
	}
	switch action := string(m.Action); {
	case m.Type == events.NetworkEventType:
		// Connected to or disconnected from a network: its published
		// ports went or came back, on new host ports. Its watchers read
		// them again.
		t.poke()
	case m.Action == events.ActionPause || m.Action == events.ActionUnPause ||
		m.Action == events.ActionKill || m.Action == events.ActionOOM:
		// Nothing ends yet (a die follows a kill that worked); what it
		// reports is read again all the same.
		t.poke()
	case m.Action == events.ActionDie:
		code := atoiOr(m.Actor.Attributes["exitCode"], -1)
		// Inspect for how it ended (out of memory, an error, a removal
		// under way).
		ctx, cancel := context.WithTimeout(r.ctx, inspectTimeout)
		res, err := r.cli.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{})
		cancel()
		switch {
		case err == nil && res.Container.State != nil && !running(res.Container.State):
			st := exitStatusOf(res.Container.State)
			if st.Message == removedStatus(0, at).Message {
				st.ExitCode = code
			}
			t.finish(st)
		case err != nil && cerrdefs.IsNotFound(err):
			t.finish(removedStatus(code, at))
		default:
			t.finish(exitedStatus(code, at))
		}
	case m.Action == events.ActionDestroy:
		// Removed without dying while watched: it was killed by the removal
		// (or had exited unseen).
		t.finish(removedStatus(137, at))
	case strings.HasPrefix(action, string(events.ActionHealthStatus)):
		status := strings.TrimSpace(strings.TrimPrefix(action, string(events.ActionHealthStatus)))
		status = strings.TrimSpace(strings.TrimPrefix(status, ":"))
		if status == "" || status == "running" {
			// "health_status: running" is a check that did not end (newer
			// engines); it changes nothing.
			return
		}
		t.pushHealth(status)
	}
}

// running reports whether a container has not exited.
func running(s *container.State) bool {
	return s.Running || s.Paused || s.Restarting
}

// exitStatusOf describes how a container that no longer runs ended.
func exitStatusOf(s *container.State) runtime.ExitStatus {
	at := parseTime(s.FinishedAt)
	if at.IsZero() {
		at = time.Now()
	}
	switch s.Status {
	case container.StateRemoving, container.StateDead:
		return removedStatus(s.ExitCode, at)
	case container.StateCreated:
		msg := "container created but never started"
		if s.Error != "" {
			msg += ": " + s.Error
		}
		return runtime.ExitStatus{ExitCode: -1, Message: msg, ExitedAt: at}
	}
	st := exitedStatus(s.ExitCode, at)
	if s.OOMKilled {
		st.Message += " (out of memory)"
	}
	if s.Error != "" {
		st.Message += ": " + s.Error
	}
	return st
}

func exitedStatus(code int, at time.Time) runtime.ExitStatus {
	if code < 0 {
		return runtime.ExitStatus{ExitCode: -1, Message: "exited (exit code unknown)", ExitedAt: at}
	}
	return runtime.ExitStatus{ExitCode: code, Message: fmt.Sprintf("exited with code %d", code), ExitedAt: at}
}

// removedStatus is the status of a container removed (killed, if it ran,
// with exit code 137).
func removedStatus(code int, at time.Time) runtime.ExitStatus {
	return runtime.ExitStatus{ExitCode: code, Message: "container removed", ExitedAt: at}
}

// endpointsOf returns the endpoints of a container's published ports,
// ordered by target port and protocol.
func (r *Runtime) endpointsOf(c container.InspectResponse) []api.TaskEndpoint {
	if c.NetworkSettings == nil {
		return nil
	}
	var eps []api.TaskEndpoint
	for port, bindings := range c.NetworkSettings.Ports {
		if len(bindings) == 0 {
			continue
		}
		// The binding on the node address; another (a host-mode port,
		// bound on every interface) otherwise.
		b := bindings[0]
		for _, cand := range bindings {
			if cand.HostIP == r.addr {
				b = cand
				break
			}
		}
		if b.HostPort == "" {
			continue
		}
		eps = append(eps, api.TaskEndpoint{
			TargetPort: uint32(port.Num()),
			Protocol:   string(port.Proto()),
			Addr:       net.JoinHostPort(r.nodeAddr, b.HostPort),
		})
	}
	slices.SortFunc(eps, func(a, b api.TaskEndpoint) int {
		return cmp.Or(cmp.Compare(a.TargetPort, b.TargetPort), cmp.Compare(a.Protocol, b.Protocol))
	})
	return eps
}

// parseTime parses an engine time; the zero time for an unset one.
func parseTime(s string) time.Time {
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || at.Year() <= 1 {
		return time.Time{}
	}
	return at
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
