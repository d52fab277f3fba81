package orchestrator

import (
	"sort"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// plan collects the writes one reconcile pass makes, and the earliest time
// a restart delay ends and the pass must run again.
type plan struct {
	now     time.Time
	ops     []state.Op
	wake    time.Time
	creates int
	// maxCreates is how many tasks this plan may make: what is left of
	// the pass's maxCreatesPerPass. deferred is set when a slot needed a
	// task past it: the service must be looked at again.
	maxCreates int
	deferred   bool
}

// full reports whether the plan has made all the tasks it may; the rest
// are made by the next pass.
func (p *plan) full() bool { return p.creates >= p.maxCreates }

func (p *plan) setDesired(t *api.Task, s api.TaskState) {
	if t.DesiredState < s {
		p.ops = append(p.ops, state.Op{Kind: state.OpSetDesiredState, ID: t.ID, Desired: s})
	}
}

func (p *plan) create(t *api.Task) {
	p.creates++
	p.ops = append(p.ops, state.Op{Kind: state.OpCreateTask, Task: t})
}

func (p *plan) wakeAt(at time.Time) {
	if p.wake.IsZero() || at.Before(p.wake) {
		p.wake = at
	}
}

// nodeSet is what reconciling needs to know of the nodes.
type nodeSet map[string]*api.Node

// down reports whether tasks on node id are lost: the node is down or gone.
func (ns nodeSet) down(id string) bool {
	if id == "" {
		return false
	}
	n, ok := ns[id]
	return !ok || n.Status.State == api.NodeStateDown
}

// drained reports whether node id is drained: its tasks move away.
func (ns nodeSet) drained(id string) bool {
	n, ok := ns[id]
	return ok && n.Spec.Availability == api.AvailabilityDrain
}

// reconcileService plans the writes that bring svc's tasks to its spec.
func reconcileService(p *plan, svc *api.Service, tasks []*api.Task, nodes nodeSet) {
	switch {
	case svc.Spec.Mode.ReplicatedJob != nil:
		reconcileReplicatedJob(p, svc, tasks, nodes)
	case svc.Spec.Mode.IsGlobal():
		reconcileGlobal(p, svc, tasks, nodes)
	default:
		reconcileReplicated(p, svc, tasks, nodes)
	}
}

// reconcileRemoved retires every task of a service that no longer exists.
func reconcileRemoved(p *plan, tasks []*api.Task) {
	for _, t := range tasks {
		p.setDesired(t, api.TaskStateRemove)
	}
}

func reconcileReplicated(p *plan, svc *api.Service, tasks []*api.Task, nodes nodeSet) {
	want := svc.Spec.Mode.Replicas()
	bySlot := map[uint64][]*api.Task{}
	for _, t := range tasks {
		bySlot[t.Slot] = append(bySlot[t.Slot], t)
	}
	// Scale down: the highest slots go, gracefully.
	for slot, ts := range bySlot {
		if slot > want || slot == 0 {
			for _, t := range ts {
				p.setDesired(t, api.TaskStateRemove)
			}
		}
	}
	for slot := uint64(1); slot <= want; slot++ {
		reconcileSlot(p, svc, bySlot[slot], nodes, func() *api.Task { return newTask(svc, slot, "", p.now) })
	}
}

// reconcileSlot keeps exactly one live task in one slot (a replicated slot,
// or a global service's node), replacing a dead one as the restart policy
// says. make returns a new task for the slot, or nil when the slot must
// wait (a job's concurrency is spent).
//
// Rolling updates are the updater's: a slot may hold a task of the current
// spec version and an outdated one (start-first), and a task being stopped
// by a stop-first update holds its slot until it has stopped.
func reconcileSlot(p *plan, svc *api.Service, ts []*api.Task, nodes nodeSet, make func() *api.Task) {
	var current, outdated, ended, drained []*api.Task
	var newest *api.Task
	stopping := false
	for _, t := range ts {
		if t.DesiredState > api.TaskStateShutdown {
			continue // a removed slot's task, still stopping
		}
		if newest == nil || t.NewerThan(newest) {
			newest = t
		}
		switch {
		case t.Live() && nodes.down(t.NodeID):
			// Its node is gone: the task is lost. Whether it is
			// replaced is decided below, from the slot's newest task.
			p.setDesired(t, api.TaskStateShutdown)
		case t.Live() && nodes.drained(t.NodeID):
			drained = append(drained, t)
		case t.Live() && t.SpecVersion == svc.SpecVersion:
			current = append(current, t)
		case t.Live():
			outdated = append(outdated, t)
		case t.DesiredState == api.TaskStateShutdown && !t.Status.State.Terminal() && !nodes.down(t.NodeID):
			stopping = true
		case t.DesiredState == api.TaskStateRunning && t.Status.State.Terminal():
			ended = append(ended, t)
		}
	}
	job := svc.Spec.Mode.IsJob()
	if job && len(outdated) > 0 {
		// A job has no rolling update: a spec change runs it again, so
		// a task of the last run stops, and the slot waits for it.
		for _, t := range outdated {
			p.setDesired(t, api.TaskStateShutdown)
		}
		outdated, stopping = nil, true
	}
	// Two live tasks of one version in a slot only happen when a write
	// raced; keep the most advanced one.
	keepBest(p, current)
	keepBest(p, outdated)
	if len(drained) > 0 {
		if moveDrained(p, svc, drained, append(current, outdated...)) {
			if t := make(); t != nil {
				p.create(t)
			}
		}
		return
	}
	if len(current) > 0 || len(outdated) > 0 {
		// The slot runs a task, so one that ended beside it (a
		// start-first replacement that failed, then was rolled back) is
		// never restarted: it is shut down, as Swarm's are.
		for _, t := range ended {
			p.setDesired(t, api.TaskStateShutdown)
		}
		return
	}
	if stopping {
		return
	}
	if p.full() {
		// This slot's dead task keeps its restart counters until the
		// next pass decides.
		p.deferred = true
		return
	}
	pol := policyOf(&svc.Spec.TaskTemplate)
	if job {
		pol = pol.forJob()
	}
	var node api.SlotNode
	if newest != nil {
		node = api.SlotNode{Down: nodes.down(newest.NodeID), Drained: nodes.drained(newest.NodeID)}
	}
	vacancy := api.VacancyOf(svc, newest, node)
	d := decideVacancy(p, svc, pol, newest, vacancy)
	if job && newest != nil && newest.SpecVersion != svc.SpecVersion {
		// The job's last run ended here; the new run starts afresh.
		d = restartDecision{restart: true, at: p.now}
	}
	if !d.restart {
		// Ended for good: it will not run again, so it no longer wants to.
		for _, t := range ended {
			p.setDesired(t, api.TaskStateShutdown)
		}
		return
	}
	if d.at.After(p.now) {
		p.wakeAt(d.at)
		return
	}
	t := make()
	if t == nil {
		return
	}
	for _, t := range ended {
		p.setDesired(t, api.TaskStateShutdown)
	}
	t.Restarts, t.RestartTimes = d.restarts, d.times
	p.create(t)
}

// decideVacancy is the restart decision for a slot left empty as vacancy
// says, newest being its newest task.
func decideVacancy(p *plan, svc *api.Service, pol restartPolicy, newest *api.Task, vacancy api.Vacancy) restartDecision {
	var d restartDecision
	switch vacancy {
	case api.VacancyStopped:
		if newest == nil || newest.DesiredState > api.TaskStateRunning || !newest.Status.State.Terminal() {
			d = restartDecision{restart: true, at: p.now}
		} else {
			d = decideRestart(pol, newest, svc.SpecVersion, p.now)
		}
	case api.VacancyEnded:
		d = decideRestart(pol, newest, svc.SpecVersion, p.now)
	case api.VacancyLost:
		// A lost node's task is replaced at once, whatever the delay,
		// unless the restart condition is none.
		d = restartDecision{restart: svc.Spec.TaskTemplate.RestartPolicy.RestartsLost(), at: p.now}
	}
	return d
}

// moveDrained moves a slot's tasks off drained nodes, and reports whether
// the slot needs its replacement task now (the caller makes it). Stop-first (the default), they are shut
// down and the slot gets its new task once they stopped, as a stop-first
// update does. Start-first, they keep running until the slot's
// replacement (made here, placed on an active node by the scheduler) is
// running, so the service never has fewer running tasks; a replacement
// that cannot be placed leaves them running.
func moveDrained(p *plan, svc *api.Service, drained, others []*api.Task) bool {
	uc := svc.Spec.UpdateConfig
	if uc == nil || uc.Order != api.UpdateOrderStartFirst {
		for _, t := range drained {
			p.setDesired(t, api.TaskStateShutdown)
		}
		return false
	}
	replaced := false
	for _, t := range others {
		if t.Status.State >= api.TaskStateRunning {
			replaced = true
		}
	}
	if replaced {
		for _, t := range drained {
			p.setDesired(t, api.TaskStateShutdown)
		}
		return false
	}
	if len(others) > 0 {
		return false // the replacement is on its way
	}
	if p.full() {
		p.deferred = true
		return false
	}
	return true
}

// keepBest shuts down all but the most advanced (then newest) of tasks.
func keepBest(p *plan, tasks []*api.Task) {
	if len(tasks) < 2 {
		return
	}
	sort.Slice(tasks, func(i, j int) bool {
		if tasks[i].Status.State != tasks[j].Status.State {
			return tasks[i].Status.State > tasks[j].Status.State
		}
		return tasks[i].CreatedAt.After(tasks[j].CreatedAt)
	})
	for _, extra := range tasks[1:] {
		p.setDesired(extra, api.TaskStateShutdown)
	}
}

func reconcileGlobal(p *plan, svc *api.Service, tasks []*api.Task, nodes nodeSet) {
	byNode := map[string][]*api.Task{}
	for _, t := range tasks {
		byNode[t.NodeID] = append(byNode[t.NodeID], t)
	}
	constraints := svc.Spec.TaskTemplate.Placement.ParsedConstraints()
	runtime := svc.Spec.TaskTemplate.Runtime()
	ids := make([]string, 0, len(nodes))
	for id := range nodes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		n := nodes[id]
		ts := byNode[id]
		delete(byNode, id)
		if !globalEligible(n, constraints, runtime) {
			for _, t := range ts {
				p.setDesired(t, api.TaskStateShutdown)
			}
			continue
		}
		if n.Spec.Availability == api.AvailabilityPause && !hasLive(ts) {
			continue // paused nodes keep their tasks but take no new ones
		}
		nodeID := id
		reconcileSlot(p, svc, ts, nodes, func() *api.Task { return newTask(svc, 0, nodeID, p.now) })
	}
	// Tasks on nodes that left the cluster.
	for _, ts := range byNode {
		for _, t := range ts {
			p.setDesired(t, api.TaskStateShutdown)
		}
	}
}

func hasLive(ts []*api.Task) bool {
	for _, t := range ts {
		if t.Live() {
			return true
		}
	}
	return false
}

// globalEligible reports whether a global service runs a task on node n.
func globalEligible(n *api.Node, constraints []api.Constraint, runtime string) bool {
	if n.Status.State != api.NodeStateReady || n.Spec.Availability == api.AvailabilityDrain {
		return false
	}
	if !n.HasRuntime(runtime) {
		return false
	}
	for _, c := range constraints {
		if !c.Matches(n) {
			return false
		}
	}
	return true
}

// newTask makes a pending task for one slot of svc from its current spec.
func newTask(svc *api.Service, slot uint64, nodeID string, now time.Time) *api.Task {
	return api.NewTask(svc, slot, nodeID, now)
}
