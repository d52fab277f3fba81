package api

// Vacancy says why a slot (a replicated slot, or a global service's node)
// holds no live task, judged from its newest task. The orchestrator refills
// the slot by it, and the updater waits for the refill by it, so that the
// two agree.
type Vacancy int

const (
	// VacancyStopped: the task was stopped on request (a stop-first
	// update, a node the global service left), or the slot never had a
	// task: it is refilled at once.
	VacancyStopped Vacancy = iota
	// VacancyEnded: the task completed, failed or was rejected on its
	// own; the restart policy decides whether and when it is replaced.
	VacancyEnded
	// VacancyLost: the task was lost with its node (and, if the node came
	// back, stopped there): it is replaced at once unless the restart
	// condition is none, as Swarm's restart supervisor does on node loss.
	VacancyLost
)

// SlotNode is what a slot's judge needs of the node its newest task ran on.
type SlotNode struct {
	// Down: the node is down or gone.
	Down bool
	// Drained: the operator drained it, so its tasks move away.
	Drained bool
}

// VacancyOf judges an empty slot of svc whose newest task is t (nil if
// the slot has none), on node.
func VacancyOf(svc *Service, t *Task, node SlotNode) Vacancy {
	v := vacancyOf(svc, t, node.Down)
	if v == VacancyLost && t.Status.State != TaskStateOrphaned && node.Drained && !node.Down {
		// Moved off a drained node by the operator, not lost: the slot
		// is refilled elsewhere whatever the restart condition.
		return VacancyStopped
	}
	return v
}

func vacancyOf(svc *Service, t *Task, down bool) Vacancy {
	switch {
	case t == nil:
		return VacancyStopped
	case t.Status.State == TaskStateComplete || t.Status.State == TaskStateFailed || t.Status.State == TaskStateRejected:
		return VacancyEnded
	case svc.Spec.Mode.IsGlobal():
		return VacancyStopped
	case t.Status.State == TaskStateOrphaned || (down && !t.Status.State.Terminal()):
		return VacancyLost
	case t.SpecVersion == svc.SpecVersion && t.DesiredState == TaskStateShutdown:
		// Only a lost task of the current spec is stopped with its slot
		// left empty: an update stops outdated tasks, and the restart
		// policy makes the replacement before it stops an ended one.
		return VacancyLost
	}
	return VacancyStopped
}

// RestartsLost reports whether the policy replaces a task lost with its
// node: as a failure, so every condition but none does.
func (p *RestartPolicy) RestartsLost() bool { return p.RestartsAfter(TaskStateFailed) }

// NewerThan reports whether t was made after o in the same slot: of a later
// spec version (a task's version only moves forward), else created by a
// later write (by time when the store kept no index), else with more
// restarts.
func (t *Task) NewerThan(o *Task) bool {
	switch {
	case t.SpecVersion != o.SpecVersion:
		return t.SpecVersion > o.SpecVersion
	case t.CreatedIndex != 0 && o.CreatedIndex != 0 && t.CreatedIndex != o.CreatedIndex:
		return t.CreatedIndex > o.CreatedIndex
	case !t.CreatedAt.Equal(o.CreatedAt):
		return t.CreatedAt.After(o.CreatedAt)
	}
	return t.Restarts > o.Restarts
}
