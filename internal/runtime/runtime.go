// Package runtime defines the boundary between the agent and what runs a
// task: a host process (runtime/process) or a container (runtime/docker).
package runtime

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/shoalproject/shoal/api"
)

// Runtime starts, watches and stops the tasks of one node. Implementations
// keep enough on disk (or in the engine) that List can find what survived an
// agent restart.
type Runtime interface {
	// Name is the runtime's name as nodes advertise it ("process", "docker").
	Name() string
	// Start prepares and starts the task. It returns once the task runs,
	// with its runtime ID and endpoints. A start that cannot succeed (a
	// missing program or image) returns an error wrapping ErrRejected.
	Start(ctx context.Context, spec TaskSpec) (Handle, error)
	// Wait blocks until the task exits or ctx ends.
	Wait(ctx context.Context, taskID string) (ExitStatus, error)
	// Stop sends the stop signal, waits up to grace, then kills. It
	// returns once the task has exited. Stopping a stopped task is no error.
	Stop(ctx context.Context, taskID string, grace time.Duration) error
	// Remove deletes what the task left behind (its folder, its
	// container). The task must be stopped.
	Remove(ctx context.Context, taskID string) error
	// List returns every task this runtime knows of on the node, running or
	// not, so that an agent that restarts can adopt or clean them up.
	List(ctx context.Context) ([]Handle, error)
}

// ErrRejected marks a start that can never succeed on this node, so the task
// is rejected rather than failed.
var ErrRejected = errors.New("rejected")

// ErrUnknownTask is returned for a task ID the runtime does not know.
var ErrUnknownTask = errors.New("unknown task")

// TaskSpec is everything a runtime needs to run one task.
type TaskSpec struct {
	TaskID      string
	ServiceID   string
	ServiceName string
	// Name is the task's full name, SERVICE.SLOT.TASKID.
	Name      string
	Slot      uint64
	NodeID    string
	Container api.ContainerSpec
	Resources *api.ResourceRequirements
	// Ports are the target ports the task listens on; the runtime gives
	// each a host port on the node address.
	Ports []api.PortConfig
	// Labels are extra labels to record with the task (service and stack
	// names); Container.Labels are the user's.
	Labels map[string]string
	// Files are the task's configs and secrets, resolved.
	Files []File
	// Networks are the networks the task attaches to, by name.
	Networks []api.NetworkAttachment
	// Sandbox, when set, is how the task's network namespace is set up
	// for the node's overlay networks, which the agent plumbs into it
	// once the task has started. Nil keeps the runtime's own networking.
	Sandbox *Sandbox
}

// Sandbox is what a runtime does for a task that the agent attaches to
// overlay networks.
type Sandbox struct {
	// Isolated leaves the task no network of the runtime's own (Docker's
	// network mode "none"): a task on internal networks only, which must
	// have no way out and publishes no port.
	Isolated bool
	// DNS is the task's resolv.conf: the agent's resolver (127.0.0.11),
	// the host's search domains, options ndots:0.
	DNS DNS
	// Addr is the task's address on its first network, which the node
	// reaches it on: a runtime whose tasks have no interface of their own
	// (process tasks) reports its endpoints there.
	Addr netip.Addr
}

// DNS is a resolv.conf's content.
type DNS struct {
	Nameservers []netip.Addr
	Search      []string
	Options     []string
}

// NetNamespacer is implemented by runtimes whose tasks have a network
// namespace of their own, for the agent to plumb networks into.
type NetNamespacer interface {
	// NetNS returns the path of the running task's network namespace
	// (/proc/PID/ns/net).
	NetNS(ctx context.Context, taskID string) (string, error)
}

// EngineRouter is implemented by runtimes whose tasks on overlay
// networks keep an interface of their engine's own that carries their
// default route and published ports (a container on Docker's bridge).
// The tasks of other NetNamespacers (process tasks) have only their
// overlay interfaces: the first network with a way out routes them.
type EngineRouter interface {
	EngineRoute() bool
}

// File is a config or secret delivered into a task.
type File struct {
	// Target is the absolute path inside the task.
	Target string
	Data   []byte
	UID    string
	GID    string
	Mode   uint32
	// Secret files live on tmpfs and are never written to the node's disk.
	Secret bool
}

// HealthReader is implemented by runtimes that check health themselves (the
// docker runtime reads the engine's health status).
type HealthReader interface {
	// Health returns a channel of the task's health changes ("starting",
	// "healthy", "unhealthy"), closed when the task exits.
	Health(ctx context.Context, taskID string) (<-chan string, error)
}

// Watcher is implemented by runtimes that see a running task change
// behind the agent's back (the docker runtime follows the engine's events:
// a container disconnected from a network loses its published ports, and
// one connected again gets new host ports).
type Watcher interface {
	// Watch returns a channel of the task's handle, read afresh from the
	// runtime: first at once, then each time its endpoints change. A
	// reader that falls behind gets only the latest handle. The channel
	// is closed when the task ends or ctx ends.
	Watch(ctx context.Context, taskID string) (<-chan Handle, error)
}

// Handle describes a started task.
type Handle struct {
	TaskID    string
	RuntimeID string
	// Running is false for a task that has exited (List reports those too).
	Running   bool
	Endpoints []api.TaskEndpoint
	StartedAt time.Time
}

// ExitStatus is how a task ended.
type ExitStatus struct {
	// ExitCode is the program's exit code, or 128+signal when killed by a
	// signal; -1 when unknown.
	ExitCode int
	// Message says how it ended, for the task's status.
	Message  string
	ExitedAt time.Time
}

// LogReader is implemented by runtimes that keep a task's output.
type LogReader interface {
	// LogPaths returns the files holding the task's stdout and stderr.
	LogPaths(taskID string) (stdout, stderr string, err error)
}

// Execer is implemented by runtimes that can run a command in a task's
// context; the agent runs the health checks of process tasks with it.
type Execer interface {
	// Exec runs argv in the task's context and returns its exit code and
	// the start of its output.
	Exec(ctx context.Context, taskID string, argv []string) (exitCode int, output []byte, err error)
}

// TaskIDEnv names the task in its processes' environment.
const TaskIDEnv = "SHOAL_TASK_ID"

// IdentityEnv is what a host process task is told of itself: its ID,
// name, service and slot, and the node's address when there is one (a
// task in a network namespace of its own has none). Process runtimes put
// it after the spec's variables, which cannot override it (the last
// duplicate wins).
func IdentityEnv(spec TaskSpec, nodeAddr string) []string {
	env := []string{
		TaskIDEnv + "=" + spec.TaskID,
		"SHOAL_TASK_NAME=" + spec.Name,
		"SHOAL_SERVICE_NAME=" + spec.ServiceName,
		"SHOAL_TASK_SLOT=" + strconv.FormatUint(spec.Slot, 10),
	}
	if nodeAddr != "" {
		env = append(env, "SHOAL_NODE_ADDR="+nodeAddr)
	}
	return env
}
