package updater

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/state"
)

// maxSlotsPerPass bounds the slots one pass starts updating, over all
// the services it looks at, as the orchestrator bounds the tasks it
// makes, so that a large service's batch, or a stack of services updated
// at once, never needs all its new tasks in memory, or in Raft, at once.
const maxSlotsPerPass = 500

// config is an update or rollback config with Swarm's defaults filled in.
type config struct {
	parallelism   int // 0: all at once
	delay         time.Duration
	failureAction string
	monitor       time.Duration
	maxRatio      float32
	startFirst    bool
}

func configOf(u *api.UpdateConfig) config {
	c := config{parallelism: api.DefaultUpdateParallel, failureAction: api.FailureActionPause, monitor: api.DefaultUpdateMonitor}
	if u == nil {
		return c
	}
	c.parallelism = int(u.Parallelism)
	c.delay = u.Delay.D()
	if u.FailureAction != "" {
		c.failureAction = u.FailureAction
	}
	if u.Monitor > 0 {
		c.monitor = u.Monitor.D()
	}
	c.maxRatio = u.MaxFailureRatio
	c.startFirst = u.Order == api.UpdateOrderStartFirst
	return c
}

// rollingBack reports whether the service's current update is a rollback.
func rollingBack(s *api.Service) bool {
	return s.UpdateStatus != nil && (s.UpdateStatus.State == api.UpdateStateRollbackStarted ||
		s.UpdateStatus.State == api.UpdateStateRollbackPaused || s.UpdateStatus.State == api.UpdateStateRollbackCompleted)
}

// slot is one replicated slot or one global service's node, with its tasks.
type slot struct {
	key      string
	number   uint64
	nodeID   string
	current  []*api.Task // live, of the service's spec version
	outdated []*api.Task // live, of an older spec version
	fresh    []*api.Task // of the current version, made during this update
	// retiring is set when an outdated task of the slot was stopped by
	// this update (stop-first): the slot is in flight until its
	// replacement passes.
	retiring bool
	// stopping is set while an outdated task of the slot, told to stop,
	// has not stopped yet.
	stopping bool
	// dead is set when the slot's newest task ended on its own, or was
	// lost with its node: the restart policy decides its replacement.
	dead bool
	// restarting is set when the restart policy replaces that task with
	// one of the current version (the task was outdated, or lost): the
	// replacement is this update's to watch.
	restarting bool
	newest     *api.Task
}

// plan is what one look at a service decides.
type plan struct {
	ops []state.Op
	// service, if set, replaces the service (status change or rollback).
	service *api.Service
	wake    time.Time
	// started counts the slots the plan starts updating; deferred is set
	// when it left some it could have started for want of the pass's
	// budget.
	started  int
	deferred bool
}

func (p *plan) wakeAt(t time.Time) {
	if p.wake.IsZero() || t.Before(p.wake) {
		p.wake = t
	}
}

// anyOtherVersion reports whether some task is of a spec version other
// than v: without one, no slot holds an outdated task.
func anyOtherVersion(tasks []*api.Task, v uint64) bool {
	for _, t := range tasks {
		if t.SpecVersion != v {
			return true
		}
	}
	return false
}

// decide plans the next step of svc's rolling update at now.
func decide(svc *api.Service, tasks []*api.Task, nodes nodeLookup, now time.Time) *plan {
	return decideWithin(svc, tasks, nodes, now, maxSlotsPerPass)
}

// decideWithin is decide starting at most maxSlots slots.
func decideWithin(svc *api.Service, tasks []*api.Task, nodes nodeLookup, now time.Time, maxSlots int) *plan {
	p := &plan{}
	st := svc.UpdateStatus
	back := rollingBack(svc)
	cfg := configOf(svc.Spec.UpdateConfig)
	if back {
		cfg = configOf(svc.Spec.RollbackConfig)
	}
	active := st != nil && (st.State == api.UpdateStateUpdating || st.State == api.UpdateStateRollbackStarted)
	if !active && !anyOtherVersion(tasks, svc.SpecVersion) {
		// No slot can be outdated (the check below): a deploy's many
		// passes, one per batch of its tasks' events, skip grouping
		// every task by slot (issue 15).
		return p
	}
	slots := groupSlots(svc, tasks, nodes, st)
	var outdated []*slot
	for _, s := range slots {
		if len(s.outdated) > 0 {
			outdated = append(outdated, s)
		}
	}
	if len(outdated) == 0 && !active {
		return p
	}
	if st != nil && (st.State == api.UpdateStatePaused || st.State == api.UpdateStateRollbackPaused) {
		return p // a paused update waits for the next change of the service
	}
	if !active {
		// Tasks are outdated and no update runs: one starts.
		started := now
		st = &api.UpdateStatus{State: api.UpdateStateUpdating, StartedAt: &started, Message: "update in progress"}
		p.service = withStatus(svc, st)
		return p
	}

	// Failures: tasks made by this update that ended before running, or
	// within the monitor window after they started running. A slot counts
	// once, its first failure: the restart policy's replacements of a
	// failing task are not more updated tasks. The ratio is of the slots
	// this update had to change, as Swarm's is of the tasks it updates:
	// slots that already ran the new spec are not part of it.
	var failed []*api.Task
	changed := 0
	for _, s := range slots {
		if len(s.fresh) > 0 || len(s.outdated) > 0 || s.retiring || s.restarting {
			changed++
		}
		var first *api.Task
		for _, t := range s.fresh {
			if failedEarly(t, cfg.monitor) && (first == nil || t.Status.Timestamp.Before(first.Status.Timestamp)) {
				first = t
			}
		}
		if first != nil {
			failed = append(failed, first)
		}
	}
	if len(failed) > 0 && cfg.failureAction != api.FailureActionContinue && float32(len(failed))/float32(max(changed, 1)) > cfg.maxRatio {
		sort.Slice(failed, func(i, j int) bool { return failed[i].Status.Timestamp.Before(failed[j].Status.Timestamp) })
		return onFailure(p, svc, back, cfg, failed[0], now)
	}

	// Slots in flight: a fresh task not yet running, or an outdated task
	// still live next to a running fresh one. As in Swarm, a batch is done
	// once its tasks run (healthy): the monitor window does not hold the
	// next batch back, it only decides which failures count (above), and
	// the update completes once the last task has run for it (watching).
	inFlight, restarting, watching := 0, 0, 0
	var lastRan time.Time
	for _, s := range slots {
		if len(s.fresh) == 0 {
			// Emptied: its task was stopped and its replacement is still
			// to come, so the slot is in flight. A replicated slot may
			// have been emptied by an update this one superseded (a
			// rollback or a new deploy sent while a stop-first batch
			// stopped), which the orchestrator refills at once; a global
			// one only counts when this update stopped its task, since a
			// node's task also stops when the node no longer fits. Not in
			// flight: a slot that still holds a live outdated task (a
			// rollback began while a start-first update's old task was
			// stopping: the slot is one to update), or a task that failed
			// (the restart policy's, as a failed fresh task is).
			if len(s.current) == 0 && len(s.outdated) == 0 {
				switch {
				case !s.dead && (s.retiring || s.number != 0):
					inFlight++
				case s.restarting:
					// Its outdated task died and the restart policy
					// replaces it on the new spec: the update waits to
					// watch that task rather than report completed with
					// the slot empty, but the restart is not one of its
					// batches.
					restarting++
				}
			}
			continue
		}
		newest := newestOf(s.fresh)
		since, ran := newest.RunningSince()
		switch {
		case newest.Status.State.Terminal():
			// It failed; the restart policy or the next batch deals with it.
		case !ran || newest.Status.State != api.TaskStateRunning:
			inFlight++
		case len(s.outdated) > 0 || s.stopping:
			// start-first: the batch is done once the old task stopped
			// too, so that no more than parallelism extra tasks live.
			inFlight++
		default:
			if since.After(lastRan) {
				lastRan = since
			}
			if now.Sub(since) < cfg.monitor {
				watching++
				p.wakeAt(since.Add(cfg.monitor))
			}
		}
		// start-first: the outdated task goes once its replacement runs;
		// or once its replacement failed and the failure was tolerated
		// (continue, or within max_failure_ratio): the slot is then the
		// restart policy's, as a stop-first one, rather than the updater
		// making one replacement after another with no restart delay.
		if (newest.Status.State == api.TaskStateRunning && newest.DesiredState == api.TaskStateRunning) ||
			(newest.Status.State.Terminal() && !hasLiveFresh(s)) {
			for _, old := range s.outdated {
				p.ops = append(p.ops, state.Op{Kind: state.OpSetDesiredState, ID: old.ID, Desired: api.TaskStateShutdown})
			}
		}
	}

	if len(outdated) == 0 {
		if inFlight == 0 && restarting == 0 && watching == 0 {
			done := now
			next := *st
			next.CompletedAt = &done
			next.State, next.Message = api.UpdateStateCompleted, "update completed"
			if back {
				next.State, next.Message = api.UpdateStateRollbackCompleted, "rollback completed"
				if strings.HasPrefix(st.Message, "update rolled back due to") {
					// Keep naming the task whose failure caused it.
					next.Message = st.Message + "; rollback completed"
				}
			}
			p.service = withStatus(svc, &next)
		}
		return p
	}

	// Next batch, after the delay since the last slot's task ran.
	if cfg.delay > 0 && !lastRan.IsZero() && now.Before(lastRan.Add(cfg.delay)) {
		p.wakeAt(lastRan.Add(cfg.delay))
		return p
	}
	budget := len(outdated)
	if cfg.parallelism > 0 {
		budget = cfg.parallelism - inFlight
	}
	// One pass starts at most maxSlots slots (parallelism 0 means
	// all at once): the tasks it stops or makes are events of the service,
	// so the next pass starts the next slots once these are committed.
	capped := budget > maxSlots
	budget = min(budget, maxSlots)
	for _, s := range outdated {
		if len(s.fresh) > 0 {
			continue // in flight, or failed and handed over above
		}
		if budget <= 0 {
			p.deferred = capped
			break
		}
		budget--
		p.started++
		if cfg.startFirst {
			p.ops = append(p.ops, state.Op{Kind: state.OpCreateTask, Task: api.NewTask(svc, s.number, s.nodeID, now)})
		} else {
			for _, old := range s.outdated {
				p.ops = append(p.ops, state.Op{Kind: state.OpSetDesiredState, ID: old.ID, Desired: api.TaskStateShutdown})
			}
		}
	}
	return p
}

// onFailure applies the failure action.
func onFailure(p *plan, svc *api.Service, back bool, cfg config, failed *api.Task, now time.Time) *plan {
	reason := fmt.Sprintf("failure or early termination of task %s", failed.ID)
	if failed.Status.Err != "" {
		reason += ": " + failed.Status.Err
	}
	st := *svc.UpdateStatus
	switch {
	case back:
		// A failed rollback pauses: a rollback is never rolled back.
		st.State, st.Message = api.UpdateStateRollbackPaused, "rollback paused due to "+reason
	case cfg.failureAction == api.FailureActionRollback && svc.PreviousSpec != nil:
		next := api.NextVersion(svc, *svc.PreviousSpec, "automatic rollback", now)
		started := now
		next.UpdateStatus = &api.UpdateStatus{State: api.UpdateStateRollbackStarted, StartedAt: &started, Message: "update rolled back due to " + reason}
		p.service = next
		return p
	default:
		st.State, st.Message = api.UpdateStatePaused, "update paused due to "+reason
	}
	p.service = withStatus(svc, &st)
	return p
}

func withStatus(svc *api.Service, st *api.UpdateStatus) *api.Service {
	next := *svc
	next.UpdateStatus = st
	return &next
}

// failedEarly reports whether a task of the update failed before it was
// running for the monitor window.
func failedEarly(t *api.Task, monitor time.Duration) bool {
	switch t.Status.State {
	case api.TaskStateFailed, api.TaskStateRejected, api.TaskStateComplete:
		// Ended on its own (a task told to stop reports shutdown),
		// whatever its desired state: one the restart policy will not
		// replace is shut down at once.
	default:
		return false
	}
	since, ran := t.RunningSince()
	return !ran || t.Status.Timestamp.Sub(since) < monitor
}

func newestOf(ts []*api.Task) *api.Task {
	n := ts[0]
	for _, t := range ts[1:] {
		if t.NewerThan(n) {
			n = t
		}
	}
	return n
}

func hasLiveFresh(s *slot) bool {
	for _, t := range s.fresh {
		if t.Live() {
			return true
		}
	}
	return false
}

// nodeLookup tells what the updater needs of a task's node.
type nodeLookup func(nodeID string) api.SlotNode

// groupSlots sorts the service's tasks into slots.
func groupSlots(svc *api.Service, tasks []*api.Task, nodes nodeLookup, st *api.UpdateStatus) []*slot {
	down := func(id string) bool { return nodes(id).Down }
	byKey := map[string]*slot{}
	var keys []string
	for _, t := range tasks {
		if t.DesiredState > api.TaskStateShutdown {
			continue // removed slots and services are the orchestrator's
		}
		if !svc.Spec.Mode.IsGlobal() && (t.Slot == 0 || t.Slot > svc.Spec.Mode.Replicas()) {
			continue
		}
		// A replicated slot by number, a global one by node (no fmt: a
		// pass builds one per task).
		key := "0/" + t.NodeID
		if t.Slot != 0 {
			key = strconv.FormatUint(t.Slot, 10)
		}
		s := byKey[key]
		if s == nil {
			s = &slot{key: key, number: t.Slot, nodeID: t.NodeID}
			if t.Slot != 0 {
				s.nodeID = ""
			}
			byKey[key] = s
			keys = append(keys, key)
		}
		live := t.Live() && !down(t.NodeID)
		if s.newest == nil || t.NewerThan(s.newest) {
			s.newest = t
		}
		switch {
		case live && t.SpecVersion == svc.SpecVersion:
			s.current = append(s.current, t)
		case live:
			s.outdated = append(s.outdated, t)
		case t.SpecVersion != svc.SpecVersion && t.DesiredState == api.TaskStateShutdown && st != nil && st.StartedAt != nil &&
			(!t.Status.State.Terminal() || !t.Status.Timestamp.Before(*st.StartedAt)):
			s.retiring = true
		}
		if t.SpecVersion != svc.SpecVersion && t.DesiredState > api.TaskStateRunning && !t.Status.State.Terminal() && !down(t.NodeID) {
			s.stopping = true
		}
		// Made by this update: decided by Raft index, not by time, so a
		// leader clock that steps back can't make the update's own task
		// look older than the update and get its slot a second one.
		if t.SpecVersion == svc.SpecVersion && st.Made(t) {
			s.fresh = append(s.fresh, t)
		}
	}
	// An emptied slot is judged as the orchestrator refills it.
	pol := svc.Spec.TaskTemplate.RestartPolicy
	for _, s := range byKey {
		switch api.VacancyOf(svc, s.newest, nodes(s.newest.NodeID)) {
		case api.VacancyEnded:
			s.dead = true
			// An outdated task's restart counters start again, so the
			// condition alone decides. A global service's task shut
			// down meanwhile is on a node it left: no restart comes.
			s.restarting = s.newest.SpecVersion != svc.SpecVersion && pol.RestartsAfter(s.newest.Status.State) &&
				(!svc.Spec.Mode.IsGlobal() || s.newest.DesiredState == api.TaskStateRunning)
		case api.VacancyLost:
			s.dead, s.restarting = true, pol.RestartsLost()
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := byKey[keys[i]], byKey[keys[j]]
		if a.number != b.number {
			return a.number < b.number
		}
		return a.nodeID < b.nodeID
	})
	out := make([]*slot, len(keys))
	for i, k := range keys {
		out[i] = byKey[k]
	}
	return out
}
