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

// stateJSON and stateOfJSON are each known state's JSON, json.Marshal's
// of its name, and back: every task carries four states and every status
// report one, which encoding/json wrote and read through a string each
// (issue 15).
var stateJSON, stateOfJSON = func() (map[TaskState][]byte, map[string]TaskState) {
	enc, dec := map[TaskState][]byte{}, map[string]TaskState{}
	for s, n := range taskStateNames {
		b, err := json.Marshal(n)
		if err != nil {
			panic(err)
		}
		enc[s], dec[string(b)] = b, s
	}
	if len(dec) != len(enc) {
		panic("two task states of one name")
	}
	return enc, dec
}()

// MarshalJSON writes the state's name.
func (s TaskState) MarshalJSON() ([]byte, error) {
	if b, ok := stateJSON[s]; ok {
		return append([]byte(nil), b...), nil
	}
	return json.Marshal(s.String())
}

// UnmarshalJSON reads a state name or its number.
func (s *TaskState) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		// As encoding/json does for other types, null leaves s unchanged.
		return nil
	}
	if v, ok := stateOfJSON[string(b)]; ok {
		*s = v
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
