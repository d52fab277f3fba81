package api

import "time"

// Meta is the bookkeeping every stored object carries.
type Meta struct {
	// Version is the Raft index of the object's last write. Writers pass it
	// back to detect concurrent changes.
	Version   uint64    `json:"Version"`
	CreatedAt time.Time `json:"CreatedAt"`
	UpdatedAt time.Time `json:"UpdatedAt"`
}

// Service is a named, desired set of tasks and what is known of them.
type Service struct {
	ID string `json:"ID"`
	Meta
	Spec ServiceSpec `json:"Spec"`
	// PreviousSpec is the spec before the last change, for rollback.
	PreviousSpec *ServiceSpec `json:"PreviousSpec,omitempty"`
	// SpecVersion counts spec changes, from 1 at creation. Tasks record the
	// SpecVersion they were made from.
	SpecVersion  uint64        `json:"SpecVersion"`
	UpdateStatus *UpdateStatus `json:"UpdateStatus,omitempty"`
	// Revision counts every change of the spec, from 1 at creation.
	Revision uint64 `json:"Revision"`
	// History holds the last MaxServiceHistory specs, oldest first; the
	// last one is the current spec.
	History []ServiceVersion `json:"History,omitempty"`
	// Endpoint is what the manager allocated for the service's endpoint:
	// its published ports and virtual IPs.
	Endpoint *Endpoint `json:"Endpoint,omitempty"`
}

// MaxServiceHistory is how many spec versions a service keeps.
const MaxServiceHistory = 10

// ServiceVersion is one spec a service had.
type ServiceVersion struct {
	Revision    uint64    `json:"Revision"`
	SpecVersion uint64    `json:"SpecVersion"`
	CreatedAt   time.Time `json:"CreatedAt"`
	// Change says what changed from the version before ("image, env").
	Change string      `json:"Change"`
	Spec   ServiceSpec `json:"Spec"`
}

// Update states, as Swarm's.
const (
	UpdateStateUpdating          = "updating"
	UpdateStatePaused            = "paused"
	UpdateStateCompleted         = "completed"
	UpdateStateRollbackStarted   = "rollback_started"
	UpdateStateRollbackPaused    = "rollback_paused"
	UpdateStateRollbackCompleted = "rollback_completed"
)

// Update orders and failure actions.
const (
	UpdateOrderStopFirst  = "stop-first"
	UpdateOrderStartFirst = "start-first"
	FailureActionPause    = "pause"
	FailureActionContinue = "continue"
	FailureActionRollback = "rollback"
	DefaultUpdateMonitor  = 5 * time.Second
	DefaultUpdateParallel = 1
)

// ServiceSpec is what a user asks for.
type ServiceSpec struct {
	Name string `json:"Name"`
	// Labels are the service's labels (a stack's deploy.labels); the
	// ingress reads its routing labels from here.
	Labels         map[string]string `json:"Labels,omitempty"`
	TaskTemplate   TaskSpec          `json:"TaskTemplate"`
	Mode           ServiceMode       `json:"Mode"`
	UpdateConfig   *UpdateConfig     `json:"UpdateConfig,omitempty"`
	RollbackConfig *UpdateConfig     `json:"RollbackConfig,omitempty"`
	EndpointSpec   *EndpointSpec     `json:"EndpointSpec,omitempty"`
}

// ServiceMode is replicated (N tasks), global (one task per node), or one
// of their job forms, whose tasks run to completion (Docker API 1.41).
type ServiceMode struct {
	Replicated    *ReplicatedService `json:"Replicated,omitempty"`
	Global        *GlobalService     `json:"Global,omitempty"`
	ReplicatedJob *ReplicatedJob     `json:"ReplicatedJob,omitempty"`
	GlobalJob     *GlobalJob         `json:"GlobalJob,omitempty"`
}

// ReplicatedService runs Replicas tasks.
type ReplicatedService struct {
	Replicas uint64 `json:"Replicas"`
}

// GlobalService runs one task on every eligible node.
type GlobalService struct{}

// ReplicatedJob runs tasks until TotalCompletions of them have exited 0,
// at most MaxConcurrent at once. Zero means Docker's default: 1 for
// MaxConcurrent, MaxConcurrent for TotalCompletions.
type ReplicatedJob struct {
	MaxConcurrent    uint64 `json:"MaxConcurrent,omitempty"`
	TotalCompletions uint64 `json:"TotalCompletions,omitempty"`
}

// Limits returns the job's concurrency and completion count, defaults
// filled in.
func (j *ReplicatedJob) Limits() (concurrent, total uint64) {
	concurrent, total = j.MaxConcurrent, j.TotalCompletions
	if concurrent == 0 {
		concurrent = 1
	}
	if total == 0 {
		total = concurrent
	}
	return concurrent, total
}

// GlobalJob runs one task to completion on every eligible node.
type GlobalJob struct{}

// IsGlobal reports whether the mode runs one task per node: global, or a
// global job.
func (m ServiceMode) IsGlobal() bool { return m.Global != nil || m.GlobalJob != nil }

// IsJob reports whether the mode is a job: its tasks run to completion.
func (m ServiceMode) IsJob() bool { return m.ReplicatedJob != nil || m.GlobalJob != nil }

// Name is the mode as docker's service ls shows it: replicated, global,
// replicated job or global job.
func (m ServiceMode) Name() string {
	switch {
	case m.ReplicatedJob != nil:
		return "replicated job"
	case m.GlobalJob != nil:
		return "global job"
	case m.Global != nil:
		return "global"
	}
	return "replicated"
}

// Replicas returns the desired replica count of a replicated service, the
// total completions of a replicated job, 0 for a global one.
func (m ServiceMode) Replicas() uint64 {
	switch {
	case m.Replicated != nil:
		return m.Replicated.Replicas
	case m.ReplicatedJob != nil:
		_, total := m.ReplicatedJob.Limits()
		return total
	}
	return 0
}

// TaskSpec is the template every task of a service is made from.
type TaskSpec struct {
	ContainerSpec ContainerSpec         `json:"ContainerSpec"`
	Resources     *ResourceRequirements `json:"Resources,omitempty"`
	RestartPolicy *RestartPolicy        `json:"RestartPolicy,omitempty"`
	Placement     *Placement            `json:"Placement,omitempty"`
	// ForceUpdate changes to replace every task without another change.
	ForceUpdate uint64 `json:"ForceUpdate,omitempty"`
	// Networks the tasks attach to, with their aliases on each.
	Networks []NetworkAttachment `json:"Networks,omitempty"`
	// LogDriver is kept on the spec for the runtime that supports it.
	LogDriver *Driver `json:"LogDriver,omitempty"`
}

// NetworkAttachment attaches a task to a network.
type NetworkAttachment struct {
	Target  string   `json:"Target"`
	Aliases []string `json:"Aliases,omitempty"`
}

// Driver names a driver and its options (logging).
type Driver struct {
	Name    string            `json:"Name"`
	Options map[string]string `json:"Options,omitempty"`
}

// Runtime names the runtime a task of this spec needs: "docker" for an
// image, "process" for a bare command.
func (t TaskSpec) Runtime() string {
	if t.ContainerSpec.Image != "" {
		return RuntimeDocker
	}
	return RuntimeProcess
}

// Runtime names.
const (
	RuntimeDocker  = "docker"
	RuntimeProcess = "process"
)

// ContainerSpec is what runs: a container image, or a host program.
type ContainerSpec struct {
	// Image is the container image; empty for a process task.
	Image string `json:"Image,omitempty"`
	// Labels are set on the task itself (the container's labels).
	Labels map[string]string `json:"Labels,omitempty"`
	// Command replaces the image's entrypoint; for a process task it is
	// the program and its first arguments.
	Command         []string     `json:"Command,omitempty"`
	Args            []string     `json:"Args,omitempty"`
	Hostname        string       `json:"Hostname,omitempty"`
	Env             []string     `json:"Env,omitempty"`
	Dir             string       `json:"Dir,omitempty"`
	User            string       `json:"User,omitempty"`
	StopSignal      string       `json:"StopSignal,omitempty"`
	StopGracePeriod *Duration    `json:"StopGracePeriod,omitempty"`
	Healthcheck     *HealthCheck `json:"Healthcheck,omitempty"`
	// Configs and Secrets become files inside the task.
	Configs []ConfigReference `json:"Configs,omitempty"`
	Secrets []SecretReference `json:"Secrets,omitempty"`
	Mounts  []Mount           `json:"Mounts,omitempty"`
	// Init runs an init process as PID 1 in the container.
	Init *bool `json:"Init,omitempty"`
	// TTY gives a container a pseudo-terminal (docker's --tty).
	TTY      bool              `json:"TTY,omitempty"`
	ReadOnly bool              `json:"ReadOnly,omitempty"`
	CapAdd   []string          `json:"CapabilityAdd,omitempty"`
	CapDrop  []string          `json:"CapabilityDrop,omitempty"`
	Sysctls  map[string]string `json:"Sysctls,omitempty"`
	Ulimits  []Ulimit          `json:"Ulimits,omitempty"`
	// Hosts are extra /etc/hosts lines, "HOST:IP" or "IP HOST".
	Hosts     []string   `json:"Hosts,omitempty"`
	DNSConfig *DNSConfig `json:"DNSConfig,omitempty"`
}

// FileTarget says where a config or secret file goes and who owns it.
type FileTarget struct {
	// Name is the file's path: absolute, or relative to /run/secrets
	// (secrets) or / (configs).
	Name string `json:"Name"`
	UID  string `json:"UID,omitempty"`
	GID  string `json:"GID,omitempty"`
	// Mode is the file mode; 0 means 0444.
	Mode uint32 `json:"Mode,omitempty"`
}

// ConfigReference names a config a task gets as a file.
type ConfigReference struct {
	ConfigName string      `json:"ConfigName"`
	ConfigID   string      `json:"ConfigID,omitempty"`
	File       *FileTarget `json:"File,omitempty"`
}

// SecretReference names a secret a task gets as a file.
type SecretReference struct {
	SecretName string      `json:"SecretName"`
	SecretID   string      `json:"SecretID,omitempty"`
	File       *FileTarget `json:"File,omitempty"`
}

// Mount types.
const (
	MountBind   = "bind"
	MountVolume = "volume"
	MountTmpfs  = "tmpfs"
)

// Mount is a bind mount, a named volume or a tmpfs in a container.
type Mount struct {
	Type     string `json:"Type"`
	Source   string `json:"Source,omitempty"`
	Target   string `json:"Target"`
	ReadOnly bool   `json:"ReadOnly,omitempty"`
	// VolumeLabels label a named volume the node creates.
	VolumeLabels map[string]string `json:"VolumeLabels,omitempty"`
	// TmpfsSize bounds a tmpfs mount, in bytes; 0 is unbounded.
	TmpfsSize int64  `json:"TmpfsSize,omitempty"`
	TmpfsMode uint32 `json:"TmpfsMode,omitempty"`
}

// Ulimit is one resource limit of a container.
type Ulimit struct {
	Name string `json:"Name"`
	Soft int64  `json:"Soft"`
	Hard int64  `json:"Hard"`
}

// DNSConfig sets a container's resolver.
type DNSConfig struct {
	Nameservers []string `json:"Nameservers,omitempty"`
	Search      []string `json:"Search,omitempty"`
	Options     []string `json:"Options,omitempty"`
}

// Argv returns the command line of a process task.
func (c ContainerSpec) Argv() []string {
	argv := append([]string{}, c.Command...)
	return append(argv, c.Args...)
}

// HealthCheck describes how to tell a task is healthy.
type HealthCheck struct {
	// Test is ["NONE"], ["CMD", args...] or ["CMD-SHELL", command].
	Test          []string  `json:"Test,omitempty"`
	Interval      *Duration `json:"Interval,omitempty"`
	Timeout       *Duration `json:"Timeout,omitempty"`
	Retries       *uint64   `json:"Retries,omitempty"`
	StartPeriod   *Duration `json:"StartPeriod,omitempty"`
	StartInterval *Duration `json:"StartInterval,omitempty"`
}

// ResourceRequirements are reservations (used to place tasks) and limits
// (enforced by the runtime).
type ResourceRequirements struct {
	Limits       *Resources `json:"Limits,omitempty"`
	Reservations *Resources `json:"Reservations,omitempty"`
}

// Resources is an amount of CPU and memory.
type Resources struct {
	NanoCPUs    int64 `json:"NanoCPUs,omitempty"`
	MemoryBytes int64 `json:"MemoryBytes,omitempty"`
}

// Restart conditions.
const (
	RestartConditionAny       = "any"
	RestartConditionOnFailure = "on-failure"
	RestartConditionNone      = "none"
)

// RestartsAfter reports whether a restart policy (nil: Swarm's default,
// any) replaces a task that ended in state st, by its condition alone:
// any always, on-failure unless the task completed, none never.
// MaxAttempts is counted per spec version, so it never stops the first
// replacement of a task of an older version.
func (p *RestartPolicy) RestartsAfter(st TaskState) bool {
	cond := RestartConditionAny
	if p != nil && p.Condition != "" {
		cond = p.Condition
	}
	switch cond {
	case RestartConditionNone:
		return false
	case RestartConditionOnFailure:
		return st != TaskStateComplete
	}
	return true
}

// RestartPolicy says when an ended task is replaced.
type RestartPolicy struct {
	Condition   string    `json:"Condition,omitempty"`
	Delay       *Duration `json:"Delay,omitempty"`
	MaxAttempts *uint64   `json:"MaxAttempts,omitempty"`
	Window      *Duration `json:"Window,omitempty"`
}

// Default restart policy values (Swarm's).
const (
	DefaultRestartDelay     = 5 * time.Second
	DefaultStopGracePeriod  = 10 * time.Second
	DefaultTaskHistoryLimit = 5
)

// Placement restricts and spreads where tasks run.
type Placement struct {
	Constraints []string              `json:"Constraints,omitempty"`
	Preferences []PlacementPreference `json:"Preferences,omitempty"`
	MaxReplicas uint64                `json:"MaxReplicas,omitempty"`
}

// PlacementPreference spreads tasks over the values of a node attribute.
type PlacementPreference struct {
	Spread string `json:"Spread"`
}

// UpdateConfig says how tasks are replaced when the spec changes.
type UpdateConfig struct {
	Parallelism     uint64   `json:"Parallelism"`
	Delay           Duration `json:"Delay,omitempty"`
	FailureAction   string   `json:"FailureAction,omitempty"`
	Monitor         Duration `json:"Monitor,omitempty"`
	MaxFailureRatio float32  `json:"MaxFailureRatio,omitempty"`
	Order           string   `json:"Order,omitempty"`
}

// UpdateStatus reports a rolling update's progress.
type UpdateStatus struct {
	State       string     `json:"State"`
	StartedAt   *time.Time `json:"StartedAt,omitempty"`
	CompletedAt *time.Time `json:"CompletedAt,omitempty"`
	Message     string     `json:"Message,omitempty"`
	// StartedIndex is the Raft index of the write that started the update
	// (set by the store when a write brings a status without one): the
	// tasks this update made are those created at or after it, decided by
	// index, not by a clock that may step back.
	StartedIndex uint64 `json:"StartedIndex,omitempty"`
}

// Made reports whether t was created by the update st describes: at or
// after the write that started it. A status or task written before the
// indexes were kept falls back to the times.
func (st *UpdateStatus) Made(t *Task) bool {
	switch {
	case st == nil:
		return false
	case st.StartedIndex != 0 && t.CreatedIndex != 0:
		return t.CreatedIndex >= st.StartedIndex
	case st.StartedAt != nil:
		return !t.CreatedAt.Before(*st.StartedAt)
	}
	return false
}

// EndpointSpec lists the ports a service's tasks listen on.
type EndpointSpec struct {
	Mode  string       `json:"Mode,omitempty"`
	Ports []PortConfig `json:"Ports,omitempty"`
}

// PortConfig is one target port, optionally published.
type PortConfig struct {
	Name          string `json:"Name,omitempty"`
	Protocol      string `json:"Protocol,omitempty"`
	TargetPort    uint32 `json:"TargetPort"`
	PublishedPort uint32 `json:"PublishedPort,omitempty"`
	// PublishMode is "ingress" (the routing mesh) or "host".
	PublishMode string `json:"PublishMode,omitempty"`
}
