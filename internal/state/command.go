package state

import (
	"time"

	"github.com/shoalproject/shoal/api"
)

// OpKind names one kind of write.
type OpKind string

// The writes the state machine knows. Each checks its precondition when
// applied, so concurrent writers never overwrite each other's changes.
const (
	// OpCreateService adds Service; its name must be free.
	OpCreateService OpKind = "create_service"
	// OpUpdateService replaces Service if its stored Version equals
	// ExpectVersion (when ExpectVersion is not zero).
	OpUpdateService OpKind = "update_service"
	// OpDeleteService removes the service ID.
	OpDeleteService OpKind = "delete_service"
	// OpCreateTask adds Task.
	OpCreateTask OpKind = "create_task"
	// OpDeleteTask removes the task ID.
	OpDeleteTask OpKind = "delete_task"
	// OpAssignTask places the pending task ID on NodeID.
	OpAssignTask OpKind = "assign_task"
	// OpPendingReason records why the pending task ID stays unplaced.
	OpPendingReason OpKind = "pending_reason"
	// OpSetDesiredState raises the task ID's desired state to Desired.
	OpSetDesiredState OpKind = "set_desired_state"
	// OpTaskStatus applies an agent's Report; states only move forward.
	OpTaskStatus OpKind = "task_status"
	// OpUpsertNode adds or replaces Node.
	OpUpsertNode OpKind = "upsert_node"
	// OpNodeStatus sets the node ID's Status.
	OpNodeStatus OpKind = "node_status"
	// OpDeleteNode removes the node ID.
	OpDeleteNode OpKind = "delete_node"
)

// Op is one write inside a Command.
type Op struct {
	Kind          OpKind          `json:"k"`
	ID            string          `json:"id,omitempty"`
	ExpectVersion uint64          `json:"ev,omitempty"`
	Service       *api.Service    `json:"s,omitempty"`
	Task          *api.Task       `json:"t,omitempty"`
	Node          *api.Node       `json:"n,omitempty"`
	NodeID        string          `json:"node,omitempty"`
	Desired       api.TaskState   `json:"d,omitempty"`
	Message       string          `json:"m,omitempty"`
	Report        *api.TaskReport `json:"r,omitempty"`
	NodeStatus    *api.NodeStatus `json:"ns,omitempty"`
}

// Command is one Raft log entry: a batch of ops applied together.
type Command struct {
	// Time is the proposer's clock, used for UpdatedAt and status times so
	// every replica applies the same values.
	Time time.Time `json:"time"`
	// Atomic commands apply all ops or none; otherwise an op whose
	// precondition fails is skipped and the rest apply.
	Atomic bool `json:"atomic,omitempty"`
	Ops    []Op `json:"ops"`
}

// Result is what applying a Command returned.
type Result struct {
	// Index is the Raft index the command was applied at.
	Index uint64
	// Err is set when an atomic command was refused.
	Err error
	// OpErrs holds, for a non-atomic command, the error of each skipped op
	// (nil for those applied).
	OpErrs []error
}
