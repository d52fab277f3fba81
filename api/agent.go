package api

import "unicode/utf8"

// Assignments is a change to the set of tasks a node must run, sent from the
// dispatcher to the node's agent. The first message of a session is Full: it
// replaces whatever the agent knew.
type Assignments struct {
	Full bool `json:"Full,omitempty"`
	// Tasks are tasks assigned to the node, new or changed.
	Tasks []*Task `json:"Tasks,omitempty"`
	// Removed are IDs of tasks no longer assigned to the node.
	Removed []string `json:"Removed,omitempty"`
	// Configs and Secrets are those the node's tasks name, with their data.
	Configs []*Config `json:"Configs,omitempty"`
	Secrets []*Secret `json:"Secrets,omitempty"`
	// Networks are those the node's tasks are attached to
	// (Task.NetworksAttachments), with their subnet, gateway and VXLAN
	// ID: what the agent plumbs them with.
	Networks []*Network `json:"Networks,omitempty"`
	// Role is the role the cluster records for the node (its desired
	// role: `node promote` and `node demote` change it), sent with every
	// full assignment and whenever it changes; empty: unchanged.
	Role string `json:"Role,omitempty"`
}

// TaskReport is an agent's report of a task's new status, with the
// endpoints it listens on once known.
type TaskReport struct {
	TaskID string     `json:"TaskID"`
	Status TaskStatus `json:"Status"`
	// Endpoints replace the task's when not null: an empty list ([])
	// says the task lost every endpoint (a container disconnected from
	// its network), null leaves them as they are. Not omitempty, so that
	// the two stay apart on the wire and in the Raft log.
	Endpoints []TaskEndpoint `json:"Endpoints"`
}

// Event is one change to the cluster state, streamed by GET /v1/events.
type Event struct {
	// Index is the Raft index of the write that made the change.
	Index   uint64   `json:"Index"`
	Type    string   `json:"Type"`   // "service", "task", "node", "config", "secret", "network"
	Action  string   `json:"Action"` // "create", "update", "remove"
	ID      string   `json:"ID"`
	Service *Service `json:"Service,omitempty"`
	Task    *Task    `json:"Task,omitempty"`
	Node    *Node    `json:"Node,omitempty"`
	// Config and Secret never carry their Data in an event.
	Config  *Config  `json:"Config,omitempty"`
	Secret  *Secret  `json:"Secret,omitempty"`
	Network *Network `json:"Network,omitempty"`
	// Message says why the stream ends, on a last event of type
	// EventStreamError.
	Message string `json:"Message,omitempty"`
}

// Name is the name of the object the event is about: a service's,
// config's, secret's or network's name, a node's hostname, a task's full
// name; empty when the event carries no object.
func (e Event) Name() string {
	switch {
	case e.Service != nil:
		return e.Service.Spec.Name
	case e.Task != nil:
		return e.Task.FullName()
	case e.Node != nil:
		return e.Node.Description.Hostname
	case e.Config != nil:
		return e.Config.Spec.Name
	case e.Secret != nil:
		return e.Secret.Spec.Name
	case e.Network != nil:
		return e.Network.Spec.Name
	}
	return ""
}

// EventTypes are the types of change GET /v1/events streams and its
// ?type= filter accepts.
var EventTypes = []string{EventService, EventTask, EventNode, EventConfig, EventSecret, EventNetwork}

// EventStreamError is the type of the last line of an event stream that
// the server ended: the client fell more than MaxEventQueue events behind.
// Its Message says so; the client reads the state again and reconnects.
const EventStreamError = "error"

// MaxEventQueue bounds the events queued for one event stream client that
// does not keep up.
const MaxEventQueue = 10_000

// Event types and actions.
const (
	EventService = "service"
	EventTask    = "task"
	EventNode    = "node"
	EventConfig  = "config"
	EventSecret  = "secret"
	EventNetwork = "network"

	ActionCreate = "create"
	ActionUpdate = "update"
	ActionRemove = "remove"
)

// Error is the body of every API error response.
type Error struct {
	Message string `json:"message"`
}

// Info describes the manager answering the API.
type Info struct {
	NodeID   string `json:"NodeID"`
	Version  string `json:"Version"`
	IsLeader bool   `json:"IsLeader"`
	// Leader is the leading manager's node ID, empty when unknown.
	Leader  string `json:"Leader,omitempty"`
	DataDir string `json:"DataDir,omitempty"`
}

// NodeRegistration is what an agent tells the dispatcher when it connects.
type NodeRegistration struct {
	NodeID      string          `json:"NodeID"`
	Description NodeDescription `json:"Description"`
	// Addr is the address other nodes and the ingress reach this node on.
	Addr string `json:"Addr"`
	// Role is the role a new node joins with.
	Role string `json:"Role,omitempty"`
	// Session names this run of the agent (random, made as it starts,
	// at most MaxSession bytes): the same across its reconnections, a new
	// one after a restart. A new session marks the node's tasks'
	// endpoints unconfirmed until the agent reports them again.
	Session string `json:"Session,omitempty"`
}

// MaxSession is the longest NodeRegistration.Session.
const MaxSession = 64

// Limits on what an agent may send, enforced by the managers. An agent
// keeps within them (it splits its reports into batches and cuts long
// texts), so only a broken or hostile one meets them.
const (
	// MaxReportBatch is the most task reports one request may carry.
	MaxReportBatch = 100
	// MaxStatusText is the most bytes of a status's Message or Err; a
	// longer one is cut (Docker keeps 4096 bytes of health check output).
	MaxStatusText = 4096
	// MaxRuntimeID is the longest RuntimeID (a container ID is 64 hex
	// digits, a PID at most 10).
	MaxRuntimeID = 128
)

// truncatedMark ends a text cut to MaxStatusText.
const truncatedMark = " … (truncated)"

// TrimStatusText cuts s to at most MaxStatusText bytes, on a UTF-8
// boundary, and marks the cut.
func TrimStatusText(s string) string {
	if len(s) <= MaxStatusText {
		return s
	}
	cut := MaxStatusText - len(truncatedMark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}
