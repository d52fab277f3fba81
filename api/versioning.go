package api

import (
	"bytes"
	"encoding/json"
	"time"
)

// NextVersion returns cur with spec as its new spec: the old spec becomes
// PreviousSpec, History gains an entry (keeping the last
// MaxServiceHistory), and SpecVersion moves on if what tasks run changed.
func NextVersion(cur *Service, spec ServiceSpec, change string, now time.Time) *Service {
	next := *cur
	prev := cur.Spec
	next.Spec = spec
	next.PreviousSpec = &prev
	if TaskSpecChanged(&prev, &spec) {
		next.SpecVersion = cur.SpecVersion + 1
	}
	next.Revision = cur.Revision + 1
	hist := append([]ServiceVersion(nil), cur.History...)
	hist = append(hist, ServiceVersion{Revision: next.Revision, SpecVersion: next.SpecVersion, CreatedAt: now, Change: change, Spec: spec})
	if len(hist) > MaxServiceHistory {
		hist = hist[len(hist)-MaxServiceHistory:]
	}
	next.History = hist
	return &next
}

// UpdatePaused reports whether the service's update or rollback stopped
// on a failure and waits for the next write of the service.
func (s *Service) UpdatePaused() bool {
	return s.UpdateStatus != nil &&
		(s.UpdateStatus.State == UpdateStatePaused || s.UpdateStatus.State == UpdateStateRollbackPaused)
}

// StartUpdate sets the UpdateStatus of next, a user's write over cur. A
// write that changes what tasks run starts a new update; any other write,
// even an identical one, restarts a paused update, as every service update
// does in Swarm (swarmkit clears UpdateStatus on each). The status is set
// in the same write as the spec, so no reader sees one without the other.
func StartUpdate(cur, next *Service, now time.Time) {
	if next.SpecVersion == cur.SpecVersion && !cur.UpdatePaused() {
		return
	}
	next.UpdateStatus = &UpdateStatus{State: UpdateStateUpdating, StartedAt: &now, Message: "update in progress"}
}

// TaskSpecChanged reports whether tasks made from a would differ from tasks
// made from b. A change of the replica count, of the update settings or of
// the service's labels does not count: as in Swarm, new routing labels
// apply at once without replacing a task.
func TaskSpecChanged(a, b *ServiceSpec) bool {
	return !SameJSON(a.TaskTemplate, b.TaskTemplate) || !SameJSON(a.EndpointSpec, b.EndpointSpec)
}

// SameJSON reports whether a and b have the same JSON form. Objects come
// back from the Raft log, where an empty map or list and an unset one are
// the same; reflect.DeepEqual would tell them apart.
func SameJSON(a, b any) bool {
	ja, err := json.Marshal(a)
	if err != nil {
		return false
	}
	jb, err := json.Marshal(b)
	return err == nil && bytes.Equal(ja, jb)
}

// NewTask makes a pending task for one slot of svc (or, with slot 0, for
// node nodeID of a global service) from the service's current spec.
func NewTask(svc *Service, slot uint64, nodeID string, now time.Time) *Task {
	created := TaskStatus{State: TaskStateNew, Timestamp: now, Message: "created"}
	pending := TaskStatus{State: TaskStatePending, Timestamp: now, Message: "pending task scheduling"}
	return &Task{
		ID:            NewID(),
		ServiceID:     svc.ID,
		ServiceName:   svc.Spec.Name,
		Slot:          slot,
		NodeID:        nodeID,
		SpecVersion:   svc.SpecVersion,
		Spec:          svc.Spec.TaskTemplate,
		ServiceLabels: svc.Spec.Labels,
		Endpoint:      svc.Spec.EndpointSpec,
		DesiredState:  TaskStateRunning,
		Status:        pending,
		History:       []TaskStatus{created, pending},
	}
}

// RunningSince returns when the task reached running, and false if it never
// did.
func (t *Task) RunningSince() (time.Time, bool) {
	for _, h := range t.History {
		if h.State == TaskStateRunning {
			return h.Timestamp, true
		}
	}
	if t.Status.State == TaskStateRunning {
		return t.Status.Timestamp, true
	}
	return time.Time{}, false
}
