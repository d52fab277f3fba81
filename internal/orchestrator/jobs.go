package orchestrator

import (
	"github.com/shoalproject/shoal/api"
)

// Jobs (Docker API 1.41's replicated-job and global-job modes) run their
// tasks to completion. They share reconcileSlot with services; what
// differs is here and in three places there: the restart policy (forJob),
// a new spec version running the job again instead of a rolling update,
// and a replicated job's concurrency cap (make returning nil).

// forJob is the policy as it applies to a job's tasks, as Swarm's: a task
// that exits 0 is a completion and never restarted, so the default
// condition, and any, act as on-failure.
func (p restartPolicy) forJob() restartPolicy {
	if p.condition == api.RestartConditionAny {
		p.condition = api.RestartConditionOnFailure
	}
	return p
}

// reconcileReplicatedJob keeps slots 1..TotalCompletions each running
// until a task of the current spec version has completed in it, with at
// most MaxConcurrent tasks of that version live at once. Slots are
// started in order, so the completed ones are always the low ones.
func reconcileReplicatedJob(p *plan, svc *api.Service, tasks []*api.Task, nodes nodeSet) {
	concurrent, total := svc.Spec.Mode.ReplicatedJob.Limits()
	bySlot := map[uint64][]*api.Task{}
	var live uint64
	for _, t := range tasks {
		if t.Slot == 0 || t.Slot > total {
			// A slot the job no longer has (TotalCompletions lowered).
			p.setDesired(t, api.TaskStateRemove)
			continue
		}
		bySlot[t.Slot] = append(bySlot[t.Slot], t)
		if t.Live() && t.SpecVersion == svc.SpecVersion && !nodes.down(t.NodeID) {
			live++
		}
	}
	for slot := uint64(1); slot <= total; slot++ {
		reconcileSlot(p, svc, bySlot[slot], nodes, func() *api.Task {
			if live >= concurrent {
				return nil // the slot starts when a running task ends
			}
			live++
			return newTask(svc, slot, "", p.now)
		})
	}
}
