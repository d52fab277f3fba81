package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/netagent"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Networker plumbs the node's tasks into their overlay networks
// (internal/netagent). The agent calls it per task: Sandbox before the
// runtime starts it, Attach once it runs (and again for a task adopted
// after a restart), Detach once it has stopped; Prune once the first full
// assignment says which tasks the node still runs.
type Networker interface {
	Sandbox(t *api.Task, nets map[string]*api.Network) (*runtime.Sandbox, error)
	Attach(req netagent.Request) error
	Detach(taskID string) error
	Prune(keep func(taskID string) bool) error
}

// networkStore holds the networks the dispatcher handed this node: those
// its tasks are attached to. A full assignment replaces them; otherwise
// they are kept for the session, since the dispatcher sends each once.
type networkStore struct {
	mu   sync.Mutex
	byID map[string]*api.Network
}

func (s *networkStore) apply(as api.Assignments) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if as.Full || s.byID == nil {
		s.byID = map[string]*api.Network{}
	}
	for _, n := range as.Networks {
		s.byID[n.ID] = n
	}
}

// forTask returns the networks of a task's attachments that the node
// knows.
func (s *networkStore) forTask(t *api.Task) map[string]*api.Network {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]*api.Network{}
	for _, na := range t.NetworksAttachments {
		if n := s.byID[na.Network.ID]; n != nil {
			out[n.ID] = n
		}
	}
	return out
}

// networked reports whether the runner plumbs its task: networking is on,
// the task has networks, and its runtime gives it a namespace of its own
// (containers, and process tasks on networks).
func (r *runner) networked(t *api.Task) bool {
	if r.net == nil || len(t.NetworksAttachments) == 0 {
		return false
	}
	_, ok := r.rt.(runtime.NetNamespacer)
	return ok
}

// engineRoute reports whether the runtime's tasks keep a way out of the
// engine's own (containers on Docker's bridge); process tasks route
// through their first network with one.
func (r *runner) engineRoute() bool {
	er, ok := r.rt.(runtime.EngineRouter)
	return ok && er.EngineRoute()
}

// sandbox says how the runtime sets the task's namespace up for its
// networks; nil when the runner does not plumb it.
//
// With networking off, a container stays on Docker's bridge, and a
// process task on the host's network, which is all a process task of a
// stack that names no network needs (its stack's default network). On a
// node that cannot isolate networks (netOff), a process task that names
// networks is refused: run on the host's network it would reach, and be
// reached by, what its networks are meant to keep apart, and resolve
// none of its peers by name.
func (r *runner) sandbox(t *api.Task) (*runtime.Sandbox, error) {
	if !r.networked(t) {
		if r.net == nil && r.netOff != "" && !r.engineRoute() {
			if named := namedNetworks(t, r.networks(t)); len(named) > 0 {
				return nil, fmt.Errorf("cannot join networks %s: networks are not isolated on this node: %s", strings.Join(named, ", "), r.netOff)
			}
		}
		return nil, nil
	}
	return r.net.Sandbox(t, r.networks(t))
}

// namedNetworks are the names of the task's networks other than its
// stack's default one (STACK_default, labelled with the stack), which a
// stack service joins when it names none.
func namedNetworks(t *api.Task, known map[string]*api.Network) []string {
	var out []string
	for _, na := range t.NetworksAttachments {
		name := na.Network.Name
		if nw := known[na.Network.ID]; nw != nil {
			name = nw.Spec.Name
			if stack := nw.Spec.Labels[api.StackNamespaceLabel]; stack != "" && name == stack+"_default" {
				continue
			}
		}
		out = append(out, name)
	}
	return out
}

// attach plumbs the started task into its networks and serves its DNS.
//
// The namespace path names the task's process (/proc/PID/ns/net): should
// the task die and its PID be reused before Attach opened it, the
// plumbing would go into a stranger's namespace. So the path is asked for
// again once plumbed: the same path of a still running task means the
// PID was held throughout, and the namespace Attach holds is the task's.
func (r *runner) attach(ctx context.Context, t *api.Task) error {
	nsr := r.rt.(runtime.NetNamespacer)
	ns, err := nsr.NetNS(ctx, r.id)
	if err != nil {
		return err
	}
	if err := r.net.Attach(netagent.Request{Task: t, Networks: r.networks(t), NetNS: ns, EngineRoute: r.engineRoute()}); err != nil {
		return err
	}
	again, err := nsr.NetNS(ctx, r.id)
	if err == nil && again != ns {
		err = fmt.Errorf("its process changed while it was plumbed (namespace %s, now %s)", ns, again)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("task %s: %w", r.id, err), r.net.Detach(r.id))
	}
	return nil
}

// detach removes the stopped task's plumbing.
func (r *runner) detach() {
	if err := r.net.Detach(r.id); err != nil {
		r.log.Warn("detach task from its networks", "task", r.id, "err", err)
	}
}

// pruneNetworks removes the network plumbing the first full assignment
// of this agent no longer needs: tasks that ended or left while no agent
// ran.
func (a *Agent) pruneNetworks(as api.Assignments) {
	keep := map[string]bool{}
	for _, t := range as.Tasks {
		if !t.Status.State.Terminal() {
			keep[t.ID] = true
		}
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.cfg.Networks.Prune(func(id string) bool { return keep[id] }); err != nil {
			a.log.Warn("remove network plumbing no task needs", "err", fmt.Errorf("prune: %w", err))
		}
	}()
}
