package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// cleanupTimeout bounds removing what a failed start left.
const cleanupTimeout = 30 * time.Second

// Start creates and starts the task's container and returns once it runs,
// with its endpoints. A start that cannot succeed (no image, an image that
// is neither on the node nor can be pulled, a spec the engine refuses)
// returns an error wrapping runtime.ErrRejected.
func (r *Runtime) Start(ctx context.Context, spec runtime.TaskSpec) (runtime.Handle, error) {
	id := spec.TaskID
	if err := checkID(id); err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w: %w", id, runtime.ErrRejected, err)
	}
	if err := ctx.Err(); err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	if err := r.reserve(id); err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	h, err := r.start(ctx, spec)
	r.mu.Lock()
	delete(r.starting, id)
	r.mu.Unlock()
	if err != nil {
		return runtime.Handle{}, fmt.Errorf("start task %s: %w", id, err)
	}
	return h, nil
}

// reserve marks the ID as starting, failing if the task exists.
func (r *Runtime) reserve(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.isClosed() {
		return ErrClosed
	}
	if r.tasks[id] != nil || r.starting[id] {
		return errors.New("task already exists")
	}
	r.starting[id] = true
	return nil
}

func (r *Runtime) start(ctx context.Context, spec runtime.TaskSpec) (runtime.Handle, error) {
	cfg, hostCfg, err := r.containerConfig(spec)
	if err != nil {
		return runtime.Handle{}, fmt.Errorf("%w: %w", runtime.ErrRejected, err)
	}
	if err := r.ensureImage(ctx, cfg.Image); err != nil {
		return runtime.Handle{}, err
	}
	fileMounts, err := r.writeFiles(spec.TaskID, spec.Files)
	if err != nil {
		return runtime.Handle{}, err
	}
	hostCfg.Mounts = append(hostCfg.Mounts, fileMounts...)

	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	}
	created, err := r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       spec.Name,
		Config:     cfg,
		HostConfig: hostCfg,
	})
	if err != nil {
		if ctx.Err() != nil && spec.Name != "" {
			// The engine may have made the container all the same.
			cctx, cancel := cleanupCtx()
			r.removeByName(cctx, spec.Name, spec.TaskID)
			cancel()
		}
		r.removeFiles(spec.TaskID)
		switch {
		case cerrdefs.IsConflict(err):
			return runtime.Handle{}, fmt.Errorf("create container: %w", err)
		case cerrdefs.IsInvalidArgument(err):
			return runtime.Handle{}, fmt.Errorf("%w: %w", runtime.ErrRejected, err)
		}
		return runtime.Handle{}, fmt.Errorf("create container: %w", err)
	}
	for _, w := range created.Warnings {
		r.log.Warn("container created with a warning", "task", spec.TaskID, "warning", w)
	}

	// Known from now on, so that no event of the container is missed.
	t := r.newTask(spec.TaskID, created.ID)
	t.verified = true
	r.mu.Lock()
	r.register(t)
	r.mu.Unlock()
	fail := func(err error) (runtime.Handle, error) {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if _, rerr := r.cli.ContainerRemove(cctx, created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); rerr != nil && !cerrdefs.IsNotFound(rerr) {
			r.log.Warn("remove container of a failed start", "task", spec.TaskID, "err", rerr)
		}
		t.finish(removedStatus(-1, time.Now()))
		r.mu.Lock()
		r.unregister(t)
		r.mu.Unlock()
		r.removeFiles(spec.TaskID)
		return runtime.Handle{}, err
	}

	if _, err := r.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		if cerrdefs.IsInvalidArgument(err) || cerrdefs.IsNotFound(err) {
			// Such as a program missing from the image.
			return fail(fmt.Errorf("%w: %w", runtime.ErrRejected, err))
		}
		return fail(fmt.Errorf("start container: %w", err))
	}
	if err := r.refresh(ctx, t); err != nil {
		return fail(err)
	}
	h := t.handle()
	h.Running = true
	if h.StartedAt.IsZero() {
		h.StartedAt = time.Now()
	}
	return h, nil
}

// removeByName removes the container a start may have made before it was
// abandoned.
func (r *Runtime) removeByName(ctx context.Context, name, taskID string) {
	res, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil || res.Container.Config == nil {
		return
	}
	l := res.Container.Config.Labels
	if l[LabelNodeID] != r.nodeID || l[LabelTaskID] != taskID {
		return
	}
	_, _ = r.cli.ContainerRemove(ctx, res.Container.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
}

// ensureImage makes sure the image is in the node's store, pulling it if
// missing. An image that cannot be had rejects the task.
func (r *Runtime) ensureImage(ctx context.Context, ref string) error {
	_, err := r.cli.ImageInspect(ctx, ref)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", ref, err)
	}
	pctx, cancel := context.WithTimeout(ctx, r.pullTimeout)
	defer cancel()
	err = r.pull(pctx, ref)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("pull image %s: %w", ref, ctx.Err())
	}
	return fmt.Errorf("%w: image %s not found on node %s: %w", runtime.ErrRejected, ref, r.nodeID, err)
}

func (r *Runtime) pull(ctx context.Context, ref string) error {
	r.log.Info("pulling image", "image", ref)
	resp, err := r.cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	if err := resp.Wait(ctx); err != nil {
		return err
	}
	// Some engines end a failed pull without an error message.
	if _, err := r.cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("image missing after the pull: %w", err)
	}
	return nil
}

// containerConfig turns the spec into the container's configuration. Its
// errors are the spec's faults.
func (r *Runtime) containerConfig(spec runtime.TaskSpec) (*container.Config, *container.HostConfig, error) {
	c := spec.Container
	if c.Image == "" {
		return nil, nil, errors.New("no image")
	}
	labels := make(map[string]string, len(c.Labels)+len(spec.Labels)+10)
	maps.Copy(labels, c.Labels)
	maps.Copy(labels, spec.Labels)
	labels[LabelTaskID] = spec.TaskID
	labels[LabelServiceID] = spec.ServiceID
	labels[LabelServiceName] = spec.ServiceName
	labels[LabelNodeID] = r.nodeID
	if ns, ok := spec.Labels[LabelStackNamespace]; ok {
		labels[LabelStackNamespace] = ns
	}
	labels[SwarmLabelTask] = ""
	labels[SwarmLabelTaskID] = spec.TaskID
	labels[SwarmLabelTaskName] = spec.Name
	labels[SwarmLabelServiceID] = spec.ServiceID
	labels[SwarmLabelServiceName] = spec.ServiceName
	labels[SwarmLabelNodeID] = r.nodeID

	cfg := &container.Config{
		Image:      c.Image,
		Entrypoint: c.Command,
		Cmd:        c.Args,
		Env:        taskEnv(spec),
		User:       c.User,
		WorkingDir: c.Dir,
		Hostname:   c.Hostname,
		Labels:     labels,
		StopSignal: c.StopSignal,
		Tty:        c.TTY,
	}
	if g := c.StopGracePeriod; g != nil {
		secs := seconds(g.D())
		cfg.StopTimeout = &secs
	}
	if h := c.Healthcheck; h != nil {
		hc := &container.HealthConfig{Test: h.Test}
		if h.Interval != nil {
			hc.Interval = h.Interval.D()
		}
		if h.Timeout != nil {
			hc.Timeout = h.Timeout.D()
		}
		if h.StartPeriod != nil {
			hc.StartPeriod = h.StartPeriod.D()
		}
		if h.StartInterval != nil {
			hc.StartInterval = h.StartInterval.D()
		}
		if h.Retries != nil {
			hc.Retries = int(min(*h.Retries, math.MaxInt32))
		}
		cfg.Healthcheck = hc
	}

	hostCfg := &container.HostConfig{
		Init:           c.Init,
		ReadonlyRootfs: c.ReadOnly,
		CapAdd:         c.CapAdd,
		CapDrop:        c.CapDrop,
		Sysctls:        c.Sysctls,
	}
	if res := spec.Resources; res != nil && res.Limits != nil {
		hostCfg.NanoCPUs = res.Limits.NanoCPUs
		hostCfg.Memory = res.Limits.MemoryBytes
	}
	for _, u := range c.Ulimits {
		hostCfg.Ulimits = append(hostCfg.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, h := range c.Hosts {
		hosts, err := extraHosts(h)
		if err != nil {
			return nil, nil, err
		}
		hostCfg.ExtraHosts = append(hostCfg.ExtraHosts, hosts...)
	}
	if sb := spec.Sandbox; sb != nil {
		// The user's own nameservers win, as in Swarm; otherwise the
		// agent's resolver.
		if d := c.DNSConfig; d == nil || len(d.Nameservers) == 0 {
			hostCfg.DNS, hostCfg.DNSSearch, hostCfg.DNSOptions = sb.DNS.Nameservers, sb.DNS.Search, sb.DNS.Options
		}
		if sb.Isolated {
			hostCfg.NetworkMode = "none"
		}
	}
	if d := c.DNSConfig; d != nil {
		for _, ns := range d.Nameservers {
			ip, err := netip.ParseAddr(ns)
			if err != nil {
				return nil, nil, fmt.Errorf("DNS nameserver %q is not an IP address", ns)
			}
			hostCfg.DNS = append(hostCfg.DNS, ip)
		}
		if len(d.Search) > 0 {
			hostCfg.DNSSearch = d.Search
		}
		if len(d.Options) > 0 {
			hostCfg.DNSOptions = d.Options
		}
	}
	for _, m := range c.Mounts {
		mm, err := mountOf(m)
		if err != nil {
			return nil, nil, err
		}
		hostCfg.Mounts = append(hostCfg.Mounts, mm)
	}
	if spec.Sandbox != nil && spec.Sandbox.Isolated {
		// No engine network, nothing to publish on: the task is reached
		// over its overlay networks only.
		return cfg, hostCfg, nil
	}
	exposed, bindings, err := r.portConfig(spec.Ports)
	if err != nil {
		return nil, nil, err
	}
	cfg.ExposedPorts, hostCfg.PortBindings = exposed, bindings
	return cfg, hostCfg, nil
}

// taskEnv returns the container's environment on top of the image's: the
// spec's variables, then the task's identity (which the spec cannot
// override) and its ports.
func taskEnv(spec runtime.TaskSpec) []string {
	var env []string
	index := map[string]int{}
	set := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			env[i] = kv
			return
		}
		index[k] = len(env)
		env = append(env, kv)
	}
	for _, kv := range spec.Container.Env {
		set(kv)
	}
	set("SHOAL_TASK_ID=" + spec.TaskID)
	set("SHOAL_TASK_NAME=" + spec.Name)
	set("SHOAL_SERVICE_NAME=" + spec.ServiceName)
	set("SHOAL_TASK_SLOT=" + strconv.FormatUint(spec.Slot, 10))
	for _, p := range spec.Ports {
		set(fmt.Sprintf("SHOAL_PORT_%d=%d", p.TargetPort, p.TargetPort))
	}
	if _, ok := index["PORT"]; !ok && len(spec.Ports) > 0 {
		set("PORT=" + strconv.FormatUint(uint64(spec.Ports[0].TargetPort), 10))
	}
	return env
}

// portConfig publishes every target port: on a host port the engine picks,
// bound to the node address, or, for a host-mode port with a published
// port, on that port of every interface.
func (r *Runtime) portConfig(ports []api.PortConfig) (network.PortSet, network.PortMap, error) {
	if len(ports) == 0 {
		return nil, nil, nil
	}
	exposed := network.PortSet{}
	bindings := network.PortMap{}
	for _, p := range ports {
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, nil, fmt.Errorf("port %d: unsupported protocol %q", p.TargetPort, p.Protocol)
		}
		if p.TargetPort == 0 || p.TargetPort > math.MaxUint16 {
			return nil, nil, fmt.Errorf("invalid target port %d", p.TargetPort)
		}
		port, ok := network.PortFrom(uint16(p.TargetPort), network.IPProtocol(proto))
		if !ok {
			return nil, nil, fmt.Errorf("invalid port %d/%s", p.TargetPort, proto)
		}
		if _, dup := exposed[port]; dup {
			continue
		}
		exposed[port] = struct{}{}
		b := network.PortBinding{HostIP: r.addr}
		if p.PublishMode == "host" && p.PublishedPort != 0 {
			if p.PublishedPort > math.MaxUint16 {
				return nil, nil, fmt.Errorf("invalid published port %d", p.PublishedPort)
			}
			b = network.PortBinding{HostPort: strconv.FormatUint(uint64(p.PublishedPort), 10)}
		}
		bindings[port] = []network.PortBinding{b}
	}
	return exposed, bindings, nil
}

// mountOf turns a spec mount into the engine's. A named volume missing on
// the node is created by the engine, with the mount's volume labels.
func mountOf(m api.Mount) (mount.Mount, error) {
	if m.Target == "" || !filepath.IsAbs(m.Target) {
		return mount.Mount{}, fmt.Errorf("mount target %q is not an absolute path", m.Target)
	}
	mm := mount.Mount{Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	switch m.Type {
	case api.MountBind:
		if !filepath.IsAbs(m.Source) {
			return mount.Mount{}, fmt.Errorf("bind mount source %q is not an absolute path", m.Source)
		}
		mm.Type = mount.TypeBind
	case api.MountVolume:
		mm.Type = mount.TypeVolume
		if len(m.VolumeLabels) > 0 {
			mm.VolumeOptions = &mount.VolumeOptions{Labels: m.VolumeLabels}
		}
	case api.MountTmpfs:
		if m.Source != "" {
			return mount.Mount{}, fmt.Errorf("tmpfs mount at %s has a source", m.Target)
		}
		mm.Type = mount.TypeTmpfs
		if m.TmpfsSize != 0 || m.TmpfsMode != 0 {
			mm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize, Mode: os.FileMode(m.TmpfsMode)}
		}
	default:
		return mount.Mount{}, fmt.Errorf("unsupported mount type %q", m.Type)
	}
	return mm, nil
}

// extraHosts turns a hosts line, "HOST:IP" or "IP HOST [HOST...]", into the
// engine's "HOST:IP" entries.
func extraHosts(line string) ([]string, error) {
	fields := strings.Fields(line)
	switch {
	case len(fields) == 1 && strings.Contains(fields[0], ":"):
		return fields, nil
	case len(fields) >= 2:
		if _, err := netip.ParseAddr(fields[0]); err != nil {
			return nil, fmt.Errorf("hosts entry %q: %q is not an IP address", line, fields[0])
		}
		var out []string
		for _, h := range fields[1:] {
			out = append(out, h+":"+fields[0])
		}
		return out, nil
	}
	return nil, fmt.Errorf("invalid hosts entry %q", line)
}

// seconds rounds a duration up to whole seconds, as the engine counts them.
func seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(min((d+time.Second-1)/time.Second, math.MaxInt32))
}
