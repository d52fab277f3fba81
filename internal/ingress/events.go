package ingress

import (
	"maps"
	"slices"
	"strings"

	"github.com/shoalproject/shoal/api"
)

// Reset replaces everything the table knows with services and tasks, as
// after (re)subscribing to the cluster. Backends that stay keep their
// counters, health and connections.
func (t *Table) Reset(services []*api.Service, tasks []*api.Task) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	old := t.services
	t.services = map[string]*serviceState{}
	t.taskSvc = map[string]string{}
	t.ended = map[string]struct{}{}
	for _, s := range services {
		if s == nil {
			continue
		}
		st := &serviceState{svc: s, tasks: map[string]*api.Task{}}
		if prev := old[s.ID]; prev != nil {
			st.pools = prev.pools // reused by rebuild where unchanged
		}
		t.services[s.ID] = st
	}
	// Parsed once all are known: a router may name another service's
	// middleware.
	for id, st := range t.services {
		st.routes = t.parseChanged(old[id], st.svc, true)
	}
	for _, tk := range tasks {
		if tk == nil {
			continue
		}
		if !taskLive(tk) {
			t.ended[tk.ID] = struct{}{}
			continue
		}
		st := t.services[tk.ServiceID]
		if st == nil {
			st = &serviceState{tasks: map[string]*api.Task{}}
			if prev := old[tk.ServiceID]; prev != nil {
				st.pools = prev.pools
			}
			t.services[tk.ServiceID] = st
		}
		st.tasks[tk.ID] = tk
		t.taskSvc[tk.ID] = tk.ServiceID
	}
	var released []*backend
	for id, prev := range old {
		if _, ok := t.services[id]; !ok {
			released = append(released, dropPools(prev.pools)...)
		}
	}
	for _, st := range t.services {
		released = append(released, t.rebuild(st)...)
	}
	t.publish(released)
}

// Apply applies events from the cluster's event stream, in order, and
// publishes the result once. Node events and events of unknown types are
// ignored.
func (t *Table) Apply(events ...api.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	dirty := map[string]bool{}
	var released []*backend
	for _, ev := range events {
		switch ev.Type {
		case api.EventService:
			released = append(released, t.applyService(ev, dirty)...)
		case api.EventTask:
			t.applyTask(ev, dirty)
		}
	}
	if len(dirty) == 0 && len(released) == 0 {
		return
	}
	for id := range dirty {
		if st := t.services[id]; st != nil {
			released = append(released, t.rebuild(st)...)
		}
	}
	t.publish(released)
}

func (t *Table) applyService(ev api.Event, dirty map[string]bool) []*backend {
	id := ev.ID
	if ev.Service != nil {
		id = ev.Service.ID
	}
	if ev.Action == api.ActionRemove {
		st := t.services[id]
		if st == nil {
			return nil
		}
		delete(t.services, id)
		delete(dirty, id)
		for tid := range st.tasks {
			delete(t.taskSvc, tid)
		}
		if st.svc != nil {
			t.reparseUsers(id, middlewaresDefined(st.svc.Spec.Labels), dirty)
		}
		return dropPools(st.pools)
	}
	if ev.Service == nil {
		return nil
	}
	st := t.services[id]
	if st == nil {
		st = &serviceState{tasks: map[string]*api.Task{}}
		t.services[id] = st
	} else if st.svc != nil && ev.Service.Version != 0 && st.svc.Version > ev.Service.Version {
		return nil // stale
	}
	changed := middlewaresDefined(ev.Service.Spec.Labels)
	if st.svc != nil {
		if maps.Equal(st.svc.Spec.Labels, ev.Service.Spec.Labels) && slices.EqualFunc(st.svc.Spec.TaskTemplate.ContainerSpec.Secrets,
			ev.Service.Spec.TaskTemplate.ContainerSpec.Secrets, sameSecret) {
			changed = nil
		} else {
			maps.Copy(changed, middlewaresDefined(st.svc.Spec.Labels))
		}
	}
	st.routes = t.parseChanged(st, ev.Service, false)
	st.svc = ev.Service
	dirty[id] = true
	t.reparseUsers(id, changed, dirty)
	return nil
}

func (t *Table) applyTask(ev api.Event, dirty map[string]bool) {
	id := ev.ID
	if ev.Task != nil {
		id = ev.Task.ID
	}
	prevSvc, known := t.taskSvc[id]
	var prev *api.Task
	if known {
		if st := t.services[prevSvc]; st != nil {
			prev = st.tasks[id]
		}
	}
	forget := func() {
		if !known {
			return
		}
		delete(t.taskSvc, id)
		if st := t.services[prevSvc]; st != nil {
			delete(st.tasks, id)
			if prev != nil && eligible(prev) {
				dirty[prevSvc] = true
			}
			if st.svc == nil && len(st.tasks) == 0 {
				delete(t.services, prevSvc)
			}
		}
	}
	if ev.Action == api.ActionRemove || ev.Task == nil {
		forget()
		delete(t.ended, id)
		return
	}
	tk := ev.Task
	if _, ok := t.ended[id]; ok {
		return
	}
	if prev != nil && tk.Version != 0 && prev.Version > tk.Version {
		return // stale
	}
	if !taskLive(tk) {
		// Desired shutdown (or ended): out of the pool at once, before
		// the agent stops it.
		forget()
		t.ended[id] = struct{}{}
		return
	}
	if known && prevSvc != tk.ServiceID {
		forget()
		prev = nil
	}
	st := t.services[tk.ServiceID]
	if st == nil {
		st = &serviceState{tasks: map[string]*api.Task{}}
		t.services[tk.ServiceID] = st
	}
	st.tasks[tk.ID] = tk
	t.taskSvc[tk.ID] = tk.ServiceID
	if prev == nil || !sameEndpoints(prev, tk) || eligible(prev) != eligible(tk) {
		dirty[tk.ServiceID] = true
	}
}

// taskLive reports whether a task may still become or stay a backend.
func taskLive(t *api.Task) bool {
	return t.DesiredState <= api.TaskStateRunning && !t.Status.State.Terminal()
}

// eligible reports whether a task takes traffic (api.Task.TakesTraffic).
func eligible(t *api.Task) bool { return t.TakesTraffic() }

func sameEndpoints(a, b *api.Task) bool {
	return slices.Equal(a.Endpoints, b.Endpoints)
}

func endpointFor(t *api.Task, port uint32) string {
	for _, e := range t.Endpoints {
		if e.TargetPort == port && e.Addr != "" && (e.Protocol == "" || strings.EqualFold(e.Protocol, "tcp")) {
			return e.Addr
		}
	}
	return ""
}
