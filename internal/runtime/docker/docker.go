// Package docker is a runtime.Runtime that runs each task as a container of
// the node's Docker Engine.
//
// # Containers
//
// A task is one container, named after the task (SERVICE.SLOT.TASKID) and
// labelled with the user's labels (Container.Labels), the task's labels
// (TaskSpec.Labels, such as com.docker.stack.namespace) and the runtime's own:
// com.shoal.task.id, com.shoal.service.id, com.shoal.service.name and
// com.shoal.node.id, and Swarm's: com.docker.swarm.service.name,
// .service.id, .task, .task.id, .task.name and .node.id (with
// com.docker.stack.namespace, for a stack's task). The engine is the runtime's only state: List finds the
// node's containers by their node label, so an agent that restarts adopts
// the containers that outlived it, running or not.
//
// The image must be in the node's image store, or be pulled (within
// Options.PullTimeout); a start whose image cannot be had is rejected
// (runtime.ErrRejected), as are specs the engine refuses as invalid.
//
// The container's environment is the image's, then Container.Env, then
// SHOAL_TASK_ID, SHOAL_TASK_NAME, SHOAL_SERVICE_NAME and SHOAL_TASK_SLOT
// (which Env cannot override), SHOAL_PORT_<target>=<target> for every port
// and PORT, the first target port, unless Env sets PORT: as with the process
// runtime, these name the port the program listens on, which inside a
// container is the target port itself.
//
// # Ports
//
// Every target port (TaskSpec.Ports) is published on a host port the engine
// picks, bound to the node address (Options.NodeAddr, or PublishAddr when
// the engine is not in the node's network namespace); a port published in
// host mode with a PublishedPort is bound to that port on all the node's
// interfaces instead. Handle.Endpoints give NodeAddr:hostport for each,
// ordered by target port.
// They are what the container holds at the last inspection: a container
// disconnected from its network has none (Watch tells).
//
// # Configs and secrets
//
// Task files (TaskSpec.Files) are written to a memory-backed folder of the
// node, Options.FilesDir/<NodeID>/docker/<TaskID>/ (by default under
// /dev/shm, a tmpfs, each level made 0700), with the file's owner (numeric
// UID and GID) and mode (0444 by default), and each is bind-mounted
// read-only at its target in the container. A secret is thus never on the
// node's disk, nor in the container's writable layer: the folder is
// checked to be on tmpfs, and a task with a secret is rejected when it is
// not (configs are still accepted). New checks that each level is ours
// and closed to others, and fails otherwise; files are written relative to
// the folder it opened, never by a path that a swapped folder could
// redirect. File targets must be absolute; UID and GID
// must be numeric (names are the image's, which the node cannot resolve).
// Remove deletes the task's folder; New deletes those of tasks whose
// container is gone. The files are read-only in the container.
//
// This is Swarm's own approach (secrets on a tmpfs of the daemon's, bound
// file by file), chosen over copying files into the container with the
// archive API (CopyToContainer): before the container starts, a copy under a
// tmpfs mount lands in the writable layer on disk (the tmpfs is mounted only
// at start), and a copy is refused on a read-only root file system. Binding
// needs the engine to share the agent's file system (a local engine, as the
// default unix socket gives); with a remote engine tasks with files fail to
// start. Like any tmpfs, the folder can be swapped out.
//
// # Watching containers
//
// One goroutine per Runtime follows the engine's event streams: one
// filtered to the node's containers, one of every container's network
// connections and disconnections (the engine cannot filter those by the
// container's label; events of other containers are dropped). It
// dispatches to the tasks: a container that dies or is removed (docker rm
// -f, as users do) ends Wait at once, health status changes go to Health's
// readers, and a network connected or disconnected, a pause, an unpause, a
// kill or an out-of-memory kill wakes Watch's readers, which inspect the
// container again and get its endpoints when they changed (none once it
// is disconnected, new host ports once connected again). The streams are
// reopened when one fails, replaying the events missed, and every task
// not known to have ended is then inspected again and its watchers woken.
// Nothing polls, and nothing queues: an event is handled before the next
// is read, and a watcher has room for one pending wake-up.
//
// # Logs
//
// The engine keeps the containers' output. Runtime implements LogStreamer,
// which the agent may type-assert for.
package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/privdir"
	"github.com/shoalproject/shoal/internal/runtime"
)

// LogStreamer is implemented by runtimes that keep a task's output and can
// stream it (the docker runtime); the agent type-asserts for it.
type LogStreamer interface {
	// Logs writes the task's output, stdout and stderr demultiplexed, to w,
	// as opts say; with opts.Follow it keeps writing until the task ends
	// or ctx ends.
	Logs(ctx context.Context, taskID string, opts api.LogOptions, w io.Writer) error
}

// Labels the runtime sets on every container.
const (
	LabelTaskID      = "com.shoal.task.id"
	LabelServiceID   = "com.shoal.service.id"
	LabelServiceName = "com.shoal.service.name"
	LabelNodeID      = "com.shoal.node.id"
	// LabelStackNamespace is Docker's stack label, copied from
	// TaskSpec.Labels.
	LabelStackNamespace = "com.docker.stack.namespace"
)

// Swarm's labels, set beside shoal's so that what reads a Swarm node's
// containers (log shippers, cAdvisor, exporters) reads shoal's the same.
// Neither a user's nor a task's label can replace them.
const (
	SwarmLabelServiceName = "com.docker.swarm.service.name"
	SwarmLabelServiceID   = "com.docker.swarm.service.id"
	SwarmLabelTaskID      = "com.docker.swarm.task.id"
	// SwarmLabelTaskName is SERVICE.SLOT.TASKID (SERVICE.NODEID.TASKID
	// for a global service's task), the container's name.
	SwarmLabelTaskName = "com.docker.swarm.task.name"
	SwarmLabelNodeID   = "com.docker.swarm.node.id"
	// SwarmLabelTask is set, empty, on every task container by Swarm.
	SwarmLabelTask = "com.docker.swarm.task"
)

// Defaults of Options.
const (
	DefaultFilesDir    = "/dev/shm/shoal"
	DefaultPullTimeout = 5 * time.Minute
)

// pingTimeout bounds New's check that the engine answers.
const pingTimeout = 10 * time.Second

// inspectTimeout bounds the inspections the event goroutine makes.
const inspectTimeout = 30 * time.Second

// Reconnection delays of the event stream.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// stableStream is how long a stream must have lasted for the next
	// reconnection to be quick again.
	stableStream = 10 * time.Second
)

// ErrClosed is returned by a Runtime's methods after Close.
var ErrClosed = errors.New("docker runtime closed")

// Options configure a Runtime.
type Options struct {
	// NodeID labels the node's containers; required.
	NodeID string
	// NodeAddr is the node's IP address: ports are published on it and
	// endpoints report it. Required.
	NodeAddr string
	// PublishAddr, when set, is where the engine publishes the ports
	// instead: the engine's address when it is not in the node's network
	// namespace (nodes sharing one host's engine). Endpoints still name
	// NodeAddr, the only address the managers accept from the node, so
	// the node must forward its address's ports to PublishAddr.
	PublishAddr string
	Logger      *slog.Logger
	// FilesDir holds the tasks' configs and secrets; it must be on tmpfs
	// for tasks with secrets. DefaultFilesDir if empty.
	FilesDir string
	// PullTimeout bounds pulling a missing image; DefaultPullTimeout if 0.
	PullTimeout time.Duration
}

// Runtime runs tasks as containers. It is safe for concurrent use.
type Runtime struct {
	cli      *client.Client
	nodeID   string
	nodeAddr string
	// addr is where the engine publishes ports: PublishAddr, else NodeAddr.
	addr        netip.Addr
	log         *slog.Logger
	pullTimeout time.Duration
	// filesDir is FilesDir/<NodeID>/docker, and files it open (see
	// files.go); nil when filesErr says why tasks with files can't run.
	// secretsErr says why it can't hold secrets.
	filesDir   string
	files      *privdir.Dir
	filesErr   error
	secretsErr error

	// ctx ends on Close, ending the event stream.
	ctx       context.Context
	cancel    context.CancelFunc
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu sync.Mutex
	// tasks are the tasks this Runtime started or found, by task ID, and
	// byContainer the same by container ID.
	tasks       map[string]*task
	byContainer map[string]*task
	// starting are the IDs whose Start is under way.
	starting map[string]bool
}

var (
	_ runtime.Runtime      = (*Runtime)(nil)
	_ runtime.HealthReader = (*Runtime)(nil)
	_ LogStreamer          = (*Runtime)(nil)
)

// New connects to the engine (DOCKER_HOST and the other DOCKER_*
// variables, else the OS's default: engineHost; the API version is
// negotiated) and
// starts following its events. It fails when no engine answers, so that the
// node does not offer the runtime.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if err := checkID(opts.NodeID); err != nil {
		return nil, fmt.Errorf("docker runtime: node ID: %w", err)
	}
	addr, err := netip.ParseAddr(opts.NodeAddr)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: node address %q is not an IP address", opts.NodeAddr)
	}
	nodeAddr := addr.String()
	if opts.PublishAddr != "" {
		if addr, err = netip.ParseAddr(opts.PublishAddr); err != nil {
			return nil, fmt.Errorf("docker runtime: publish address %q is not an IP address", opts.PublishAddr)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cli, err := client.New(client.FromEnv, client.WithHost(thisEngineHost(os.Getenv(client.EnvOverrideHost))))
	if err != nil {
		return nil, fmt.Errorf("docker runtime: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	_, err = cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	cancel()
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("docker runtime: engine at %s: %w", cli.DaemonHost(), err)
	}

	filesRoot := opts.FilesDir
	if filesRoot == "" {
		filesRoot = DefaultFilesDir
	}
	if filesRoot, err = filepath.Abs(filesRoot); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("docker runtime: files folder: %w", err)
	}
	r := &Runtime{
		cli:         cli,
		nodeID:      opts.NodeID,
		nodeAddr:    nodeAddr,
		addr:        addr,
		log:         log.With("runtime", api.RuntimeDocker),
		pullTimeout: opts.PullTimeout,
		filesDir:    filepath.Join(filesRoot, opts.NodeID, filesSub),
		closed:      make(chan struct{}),
		tasks:       make(map[string]*task),
		byContainer: make(map[string]*task),
		starting:    make(map[string]bool),
	}
	if r.pullTimeout <= 0 {
		r.pullTimeout = DefaultPullTimeout
	}
	if err := r.openFilesDir(filesRoot); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("docker runtime: %w", err)
	}

	r.ctx, r.cancel = context.WithCancel(context.Background())
	// Subscribe before anything can start, so that no event of a task is
	// missed.
	stream := r.subscribe(time.Time{})
	if err := r.removeLeftoverFiles(ctx); err != nil {
		r.log.Warn("remove leftover task files", "err", err)
	}
	r.wg.Add(1)
	go r.watchEvents(stream)
	return r, nil
}

// Name returns "docker".
func (r *Runtime) Name() string { return api.RuntimeDocker }

// Close stops following the engine's events, ends the Health channels and
// the waits under way (with ErrClosed), and closes the engine connection.
// Containers keep running: tasks outlive the agent.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		close(r.closed)
		r.mu.Unlock()
		r.cancel()
		r.wg.Wait()
		_ = r.cli.Close()
		_ = r.files.Close()
	})
	return nil
}

// isClosed reports whether Close was called.
func (r *Runtime) isClosed() bool {
	select {
	case <-r.closed:
		return true
	default:
		return false
	}
}

// goTracked runs f in a goroutine that Close waits for, or returns false,
// without running it, once Close was called.
func (r *Runtime) goTracked(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isClosed() {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		f()
	}()
	return true
}

// eventStream is one subscription to the engine's events: those of the
// node's containers, and the network connections and disconnections of
// any container (a network event names its container in an attribute, not
// in a label, so the engine cannot filter those by node; handleEvent drops
// the others).
type eventStream struct {
	containers client.EventsResult
	networks   client.EventsResult
	cancel     context.CancelFunc
}

// subscribe opens the event streams, from since when it is not zero (the
// engine replays what it kept of the events since).
func (r *Runtime) subscribe(since time.Time) eventStream {
	ctx, cancel := context.WithCancel(r.ctx)
	opts := client.EventsListOptions{
		Filters: client.Filters{}.
			Add("type", string(events.ContainerEventType)).
			Add("label", LabelNodeID+"="+r.nodeID),
	}
	nopts := client.EventsListOptions{
		Filters: client.Filters{}.
			Add("type", string(events.NetworkEventType)).
			Add("event", string(events.ActionConnect), string(events.ActionDisconnect)),
	}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
		nopts.Since = opts.Since
	}
	return eventStream{containers: r.cli.Events(ctx, opts), networks: r.cli.Events(ctx, nopts), cancel: cancel}
}

// watchEvents dispatches the engine's events until Close, reopening the
// streams when one fails.
func (r *Runtime) watchEvents(s eventStream) {
	defer r.wg.Done()
	// last is the time of the last event seen, or of the last subscription:
	// a new subscription replays from there.
	last := time.Now()
	subscribed := last
	backoff := minBackoff
	for {
		err := r.consume(s, &last, &backoff)
		if time.Since(subscribed) > stableStream {
			backoff = minBackoff
		}
		s.cancel()
		// The Events goroutines close Err when they return.
		for range s.containers.Err {
		}
		for range s.networks.Err {
		}
		if r.isClosed() {
			return
		}
		r.log.Warn("engine event stream ended; reopening", "err", err, "in", backoff)
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-r.closed:
			timer.Stop()
			return
		}
		backoff = min(2*backoff, maxBackoff)
		subscribed = time.Now()
		s = r.subscribe(last.Add(-time.Second))
		// Events the engine no longer kept are lost: look at every task
		// not known to have ended.
		r.recheck()
	}
}

// consume dispatches the events of one subscription until a stream fails.
// Events are handled one at a time: a stream the engine cannot deliver
// waits in the connection, not in memory.
func (r *Runtime) consume(s eventStream, last *time.Time, backoff *time.Duration) error {
	for {
		var m events.Message
		select {
		case m = <-s.containers.Messages:
		case m = <-s.networks.Messages:
		case err, ok := <-s.containers.Err:
			return streamErr(err, ok)
		case err, ok := <-s.networks.Err:
			return streamErr(err, ok)
		case <-r.closed:
			return ErrClosed
		}
		*backoff = minBackoff
		if m.TimeNano != 0 {
			*last = time.Unix(0, m.TimeNano)
		}
		r.handleEvent(m)
	}
}

// streamErr is why an event stream ended.
func streamErr(err error, ok bool) error {
	if !ok || err == nil {
		return io.EOF
	}
	return err
}

// checkID rejects IDs that cannot name a folder or a label value.
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("empty ID")
	case id == "." || id == ".." || id[0] == '.':
		return fmt.Errorf("invalid ID %q", id)
	}
	for _, c := range id {
		if c == '/' || c == 0 || c == ',' || c == '=' || c < ' ' {
			return fmt.Errorf("invalid ID %q", id)
		}
	}
	return nil
}

// atoiOr returns s as an int, or def.
func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
