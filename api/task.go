package api

import (
	"fmt"
	"time"
)

// Task is one attempt to run one replica of a service. A task is never
// restarted: when it ends, the orchestrator makes a new task in its slot.
type Task struct {
	ID string `json:"ID"`
	Meta
	ServiceID   string `json:"ServiceID"`
	ServiceName string `json:"ServiceName"`
	// Slot numbers a replicated service's replica, from 1; 0 for global.
	Slot uint64 `json:"Slot,omitempty"`
	// NodeID is where the task runs: set by the scheduler, or at creation
	// for a global service.
	NodeID      string `json:"NodeID,omitempty"`
	SpecVersion uint64 `json:"SpecVersion"`
	// CreatedIndex is the Raft index of the write that made the task, set
	// by the store. Unlike CreatedAt it only moves forward, whatever the
	// leader's clock does.
	CreatedIndex uint64   `json:"CreatedIndex,omitempty"`
	Spec         TaskSpec `json:"Spec"`
	// ServiceLabels are the service's labels when the task was made.
	ServiceLabels map[string]string `json:"ServiceLabels,omitempty"`
	Endpoint      *EndpointSpec     `json:"Endpoint,omitempty"`
	DesiredState  TaskState         `json:"DesiredState"`
	Status        TaskStatus        `json:"Status"`
	// History holds every status the task has had, oldest first.
	History []TaskStatus `json:"History,omitempty"`
	// Endpoints are where the task's target ports can be reached.
	Endpoints []TaskEndpoint `json:"Endpoints,omitempty"`
	// EndpointsUnconfirmed says the task's node has a new agent (it
	// restarted) that has not yet read the task's endpoints from its
	// runtime: what it reported before may be stale (a port that moved,
	// and that another program may hold now), so the task takes no
	// traffic until the new agent has reported them.
	EndpointsUnconfirmed bool `json:"EndpointsUnconfirmed,omitempty"`
	// NetworksAttachments are the task's addresses, one per network of its
	// spec, allocated by the manager when the task was made.
	NetworksAttachments []NetworkAttachmentStatus `json:"NetworksAttachments,omitempty"`
	// Restarts counts the replacements in this slot made under the current
	// spec version; without a restart window, the restart policy's
	// max_attempts bounds it.
	Restarts uint64 `json:"Restarts,omitempty"`
	// RestartTimes are, with a restart window and max_attempts, the ends
	// (by the leader's clock) of this slot's tasks that were restarted
	// and may still lie in the window, oldest first, at most
	// MaxRestartTimes. As Swarm's restart supervisor, a slot is refilled
	// only when fewer than max_attempts of them lie in the window before
	// now (a sliding window).
	RestartTimes []time.Time `json:"RestartTimes,omitempty"`
}

// MaxRestartTimes bounds Task.RestartTimes: a max_attempts above it,
// with a window, never gives up.
const MaxRestartTimes = 100

// Name is the task's display name: SERVICE.SLOT, or SERVICE.NODEID for a
// global service.
func (t *Task) Name() string {
	if t.Slot == 0 {
		return fmt.Sprintf("%s.%s", t.ServiceName, t.NodeID)
	}
	return fmt.Sprintf("%s.%d", t.ServiceName, t.Slot)
}

// FullName is the name the task's process or container carries:
// SERVICE.SLOT.TASKID.
func (t *Task) FullName() string { return t.Name() + "." + t.ID }

// TaskStatus is what is known of a task at one moment.
type TaskStatus struct {
	State TaskState `json:"State"`
	// Timestamp is when the managers applied the status, by the leader's
	// clock: the restart delay, the update monitor and the scheduler's
	// failure window compare it with that clock, so a node's clock can't
	// skew them.
	Timestamp time.Time `json:"Timestamp"`
	// AgentTimestamp is when the agent says the change happened, by the
	// node's clock: for information only, nothing decides by it.
	AgentTimestamp time.Time `json:"AgentTimestamp,omitzero"`
	Message        string    `json:"Message,omitempty"`
	Err            string    `json:"Err,omitempty"`
	ExitCode       *int      `json:"ExitCode,omitempty"`
	// RuntimeID is the PID of a process or the ID of a container.
	RuntimeID string `json:"RuntimeID,omitempty"`
	// Health is "", "starting", "healthy" or "unhealthy".
	Health string `json:"Health,omitempty"`
}

// Health states.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// TaskEndpoint is one reachable target port of a task.
type TaskEndpoint struct {
	TargetPort uint32 `json:"TargetPort"`
	Protocol   string `json:"Protocol,omitempty"`
	// Addr is the node address and host port, "10.0.0.2:33012".
	Addr string `json:"Addr"`
}

// Live reports whether the task is meant to run and has not ended.
func (t *Task) Live() bool {
	return t.DesiredState <= TaskStateRunning && !t.Status.State.Terminal()
}

// TakesTraffic reports whether the task may be sent new connections:
// meant to run, running, and healthy if it has a health check. A task
// the managers want stopped leaves at once, before its node stops it
// (drain before stop). The HTTP ingress and the routing mesh both pick
// their backends by it. Neither dials an endpoint the node's current
// agent has not confirmed (EndpointsUnconfirmed).
func (t *Task) TakesTraffic() bool {
	return t.DesiredState == TaskStateRunning && t.Status.State == TaskStateRunning &&
		(t.Status.Health == "" || t.Status.Health == HealthHealthy) && !t.EndpointsUnconfirmed
}
