package api

import (
	"encoding/json"
	"fmt"
)

// TaskState is where a task is in its life. The values are Swarm's, so they
// order the states: a task's state only ever grows.
type TaskState int

// Task states, in the order a task moves through them.
const (
	TaskStateNew       TaskState = 0
	TaskStatePending   TaskState = 64
	TaskStateAssigned  TaskState = 192
	TaskStateAccepted  TaskState = 256
	TaskStatePreparing TaskState = 320
	TaskStateReady     TaskState = 384
	TaskStateStarting  TaskState = 448
	TaskStateRunning   TaskState = 512
	TaskStateComplete  TaskState = 576
	TaskStateShutdown  TaskState = 640
	TaskStateFailed    TaskState = 704
	TaskStateRejected  TaskState = 768
	TaskStateRemove    TaskState = 800
	TaskStateOrphaned  TaskState = 832
)

var taskStateNames = map[TaskState]string{
	TaskStateNew:       "new",
	TaskStatePending:   "pending",
	TaskStateAssigned:  "assigned",
	TaskStateAccepted:  "accepted",
	TaskStatePreparing: "preparing",
	TaskStateReady:     "ready",
	TaskStateStarting:  "starting",
	TaskStateRunning:   "running",
	TaskStateComplete:  "complete",
	TaskStateShutdown:  "shutdown",
	TaskStateFailed:    "failed",
	TaskStateRejected:  "rejected",
	TaskStateRemove:    "remove",
	TaskStateOrphaned:  "orphaned",
}

// String returns the state's lower-case name.
func (s TaskState) String() string {
	if n, ok := taskStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Terminal reports whether a task in state s has ended for good.
func (s TaskState) Terminal() bool { return s > TaskStateRunning }

// ParseTaskState reads a state name.
func ParseTaskState(name string) (TaskState, error) {
	for s, n := range taskStateNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown task state %q", name)
}

// MarshalJSON writes the state's name.
func (s TaskState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a state name or its number.
func (s *TaskState) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		// As encoding/json does for other types, null leaves s unchanged.
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		v, err := ParseTaskState(name)
		if err != nil {
			return err
		}
		*s = v
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid task state %s", b)
	}
	if _, ok := taskStateNames[TaskState(n)]; !ok {
		return fmt.Errorf("unknown task state %d", n)
	}
	*s = TaskState(n)
	return nil
}
