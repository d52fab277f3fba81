package agent

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// DefaultUnreachableGrace is how long a running task may miss a published
// port before it is failed and replaced (Config.UnreachableGrace).
const DefaultUnreachableGrace = 10 * time.Second

// reach follows where a running task can be reached, for a runtime that
// sees its tasks change (runtime.Watcher): every endpoint that changed is
// reported at once, and one that is gone is reported gone, so that every
// ingress and the routing mesh stop sending it traffic on the same change.
// A task that misses a published port for the runner's unreachable grace
// (a container disconnected from its network and not connected again) is
// failed: its spec says it can be reached there.
type reach struct {
	// changes are the runtime's fresh reads of the task; nil when the
	// runtime does not watch.
	changes <-chan runtime.Handle
	// reported are the endpoints the managers hold.
	reported []api.TaskEndpoint
	// confirm says the next read is reported even if unchanged: an
	// adopted task's endpoints are unconfirmed until this agent has read
	// them (api.Task.EndpointsUnconfirmed).
	confirm bool
	// want are the ports the task must keep ("8080/tcp"), each with the
	// host port it must be on (0: any).
	want map[string]string
	// lost fires once a wanted port has been missing for the grace.
	lost    *time.Timer
	lostC   <-chan time.Time
	missing []string
}

// watchReach starts following the task's endpoints. stored are the
// endpoints the managers hold (those of an adopted task), h the task's
// handle: the ports of either are the ones it must keep.
func (r *runner) watchReach(ctx context.Context, t *api.Task, h runtime.Handle) *reach {
	rc := &reach{reported: t.Endpoints, want: map[string]string{}, confirm: r.adopted != nil}
	if r.adopted == nil {
		rc.reported = h.Endpoints
	}
	hostMode := map[string]string{}
	if t.Endpoint != nil && t.Spec.ContainerSpec.Image != "" {
		for _, p := range t.Endpoint.Ports {
			if p.PublishMode == "host" && p.PublishedPort != 0 {
				hostMode[portOf(p.TargetPort, p.Protocol)] = strconv.FormatUint(uint64(p.PublishedPort), 10)
			}
		}
	}
	for _, ep := range slices.Concat(t.Endpoints, h.Endpoints) {
		k := portOf(ep.TargetPort, ep.Protocol)
		rc.want[k] = hostMode[k]
	}
	w, ok := r.rt.(runtime.Watcher)
	if !ok {
		return rc
	}
	ch, err := w.Watch(ctx, r.id)
	if err != nil {
		r.log.Warn("watch task", "task", r.id, "err", err)
		return rc
	}
	rc.changes = ch
	return rc
}

// stop releases the timer.
func (rc *reach) stop() {
	if rc.lost != nil {
		rc.lost.Stop()
	}
}

// moved takes a fresh read of the task: endpoints that differ from those
// the managers hold are reported with the task's current status (none at
// all as an empty list, which takes the task out of every pool), and the
// unreachable grace starts or ends as wanted ports go or come back.
func (r *runner) moved(rc *reach, h *runtime.Handle, fresh runtime.Handle) {
	eps := fresh.Endpoints
	if eps == nil {
		eps = []api.TaskEndpoint{}
	}
	h.Endpoints = eps
	if !slices.Equal(eps, rc.reported) || rc.confirm {
		if !slices.Equal(eps, rc.reported) {
			r.log.Info("task endpoints changed", "task", r.id, "from", rc.reported, "to", eps)
		}
		rc.reported, rc.confirm = eps, false
		st := r.lastStatus()
		st.Timestamp = time.Time{}
		r.send(st, eps)
	}
	rc.missing = rc.missing[:0]
	have := map[string]string{}
	for _, ep := range eps {
		_, port, _ := net.SplitHostPort(ep.Addr)
		have[portOf(ep.TargetPort, ep.Protocol)] = port
	}
	for k, hostPort := range rc.want {
		got, ok := have[k]
		if !ok || (hostPort != "" && got != hostPort) {
			rc.missing = append(rc.missing, k)
		}
	}
	sort.Strings(rc.missing)
	switch {
	case len(rc.missing) == 0 && rc.lost != nil:
		rc.lost.Stop()
		rc.lost, rc.lostC = nil, nil
	case len(rc.missing) > 0 && rc.lost == nil:
		rc.lost = time.NewTimer(r.unreachable)
		rc.lostC = rc.lost.C
	}
}

// failUnreachable stops a task that missed published ports for the grace
// and reports it failed, saying which.
func (r *runner) failUnreachable(rc *reach, h runtime.Handle) {
	noun := "port"
	if len(rc.missing) > 1 {
		noun = "ports"
	}
	r.stopAndReport("stop unreachable task", api.TaskStatus{State: api.TaskStateFailed,
		Message:   fmt.Sprintf("no longer reachable as its spec says for %v (disconnected from its network?)", r.unreachable),
		Err:       fmt.Sprintf("task: published %s %s lost", noun, strings.Join(rc.missing, ", ")),
		RuntimeID: h.RuntimeID})
}

// lastStatus is the task's status as last reported: by this runner, or by
// the agent before it (an adopted task).
func (r *runner) lastStatus() api.TaskStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last != nil {
		return *r.last
	}
	return r.task.Status
}

// portOf names a target port and its protocol, "8080/tcp".
func portOf(target uint32, proto string) string {
	if proto == "" {
		proto = "tcp"
	}
	return strconv.FormatUint(uint64(target), 10) + "/" + strings.ToLower(proto)
}
