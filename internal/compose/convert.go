package compose

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/paths"
	"github.com/compose-spec/compose-go/v2/types"
	units "github.com/docker/go-units"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/ingress"
)

// converter maps a compose-go project onto shoal's specs.
type converter struct {
	l        *loadState
	p        *types.Project
	stack    string
	usedNets map[string]bool
	vols     map[string]volumeInfo
	// published are the ingress ports of every service, for the check
	// that no two services publish the same one.
	published []publishedPort
}

type volumeInfo struct {
	name     string
	external bool
	labels   map[string]string
}

type publishedPort struct {
	service string // compose key
	index   int
	key     string // "80/tcp"
}

// objName is the actual name of a network, volume, config or secret, as
// docker stack deploy names them: external ones by their name: (else their
// key), the others STACK_KEY unless the file gives a name:.
func (c *converter) objName(key, name string, external bool) string {
	if external {
		if name != "" {
			return name
		}
		return key
	}
	// compose-go names what has no name: PROJECT_KEY (with the project
	// name in lower case).
	if name == "" || name == c.l.projName+"_"+key {
		return c.stack + "_" + key
	}
	return name
}

func withNamespace(labels map[string]string, stack string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	out[api.StackNamespaceLabel] = stack
	return out
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *converter) configs() []StackObject {
	var out []StackObject
	for _, key := range sortedNames(c.p.Configs) {
		cfg := types.FileObjectConfig(c.p.Configs[key])
		if o, ok := c.object("configs", "config", key, cfg, api.MaxConfigSize); ok {
			out = append(out, o)
		}
	}
	return out
}

func (c *converter) secrets() []StackObject {
	var out []StackObject
	for _, key := range sortedNames(c.p.Secrets) {
		cfg := types.FileObjectConfig(c.p.Secrets[key])
		if o, ok := c.object("secrets", "secret", key, cfg, api.MaxSecretSize); ok {
			out = append(out, o)
		}
	}
	return out
}

// object makes the StackObject of a config or secret, reading its data.
func (c *converter) object(section, kind, key string, obj types.FileObjectConfig, max int) (StackObject, bool) {
	o := StackObject{Key: key, Name: c.objName(key, obj.Name, bool(obj.External)), External: bool(obj.External)}
	if o.External {
		return o, true
	}
	segs := []string{section, key}
	o.Labels = withNamespace(obj.Labels, c.stack)
	// What the managers check when the object is created.
	if err := api.ValidateFileObjectName(kind, o.Name); err != nil {
		c.l.fail(c.l.at(append(segs, "name"), "%v", err))
	}
	c.labelLimits(kind, o.Labels, append(segs, "labels"))
	limit := fmt.Sprintf("a %s may have at most %d bytes (%d KB)", kind, max, max/1024)
	switch {
	case obj.Environment != "":
		v, ok := c.l.env[obj.Environment]
		if !ok {
			c.l.fail(c.l.at(append(segs, "environment"), "environment variable %s is not set", obj.Environment))
			return o, false
		}
		o.Data, o.Source = []byte(v), "env:"+obj.Environment
	case obj.File != "":
		o.Source = obj.File
		st, err := os.Stat(obj.File)
		if err != nil {
			c.l.fail(c.l.at(append(segs, "file"), "file %s: %v", obj.File, unwrapPathError(err)))
			return o, false
		}
		if st.IsDir() {
			c.l.fail(c.l.at(append(segs, "file"), "file %s is a directory", obj.File))
			return o, false
		}
		if st.Size() > int64(max) {
			c.l.fail(c.l.at(append(segs, "file"), "file %s is %d bytes: too large, %s", obj.File, st.Size(), limit))
			return o, false
		}
		data, err := os.ReadFile(obj.File)
		if err != nil {
			c.l.fail(c.l.at(append(segs, "file"), "file %s: %v", obj.File, unwrapPathError(err)))
			return o, false
		}
		o.Data = data
	case obj.Content != "":
		o.Data, o.Source = []byte(obj.Content), "content"
	default:
		c.l.fail(c.l.at(segs, "no source: give file, environment or external: true"))
		return o, false
	}
	if len(o.Data) > max {
		c.l.fail(c.l.at(segs, "%s %s is %d bytes: too large, %s", kind, o.Source, len(o.Data), limit))
		return o, false
	}
	if len(o.Data) == 0 {
		what := "file " + obj.File
		if obj.File == "" {
			what = o.Source
		}
		c.l.fail(c.l.at(segs, "%s is empty: a %s needs data", what, kind))
		return o, false
	}
	return o, true
}

func (c *converter) volumes() {
	c.vols = map[string]volumeInfo{}
	for key, v := range c.p.Volumes {
		vi := volumeInfo{name: c.objName(key, v.Name, bool(v.External)), external: bool(v.External)}
		if !vi.external {
			vi.labels = withNamespace(v.Labels, c.stack)
		}
		c.vols[key] = vi
	}
}

// networks lists the networks the services use.
func (c *converter) networks() []NetworkRef {
	var out []NetworkRef
	for _, key := range sortedNames(c.usedNets) {
		def, ok := c.p.Networks[key]
		if !ok {
			// The implicit default network.
			out = append(out, NetworkRef{Key: key, Name: c.stack + "_" + key, Driver: defaultNetworkDriver,
				Labels: withNamespace(nil, c.stack)})
			continue
		}
		n := NetworkRef{Key: key, Name: c.objName(key, def.Name, bool(def.External)), External: bool(def.External)}
		if !n.External {
			n.Driver = def.Driver
			if n.Driver == "" {
				n.Driver = defaultNetworkDriver
			}
			n.Labels = withNamespace(def.Labels, c.stack)
			// What the managers check when the network is created.
			segs := []string{"networks", key}
			if err := api.ValidateName("network", n.Name); err != nil {
				c.l.fail(c.l.at(append(segs, "name"), "%v", err))
			}
			if err := api.ValidateNetworkDriver(n.Driver); err != nil {
				c.l.fail(c.l.at(append(segs, "driver"), "%v", err))
			}
			c.labelLimits("network", n.Labels, append(segs, "labels"))
			n.Attachable = def.Attachable
			n.Internal = def.Internal
			n.IPAM = ipam(def.Ipam)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ipam returns the subnets of a network's ipam.config; the manager checks
// them (one IPv4 subnet, a gateway inside it).
func ipam(in types.IPAMConfig) *api.IPAM {
	var out api.IPAM
	for _, p := range in.Config {
		if p != nil && (p.Subnet != "" || p.Gateway != "") {
			out.Config = append(out.Config, api.IPAMConfig{Subnet: p.Subnet, Gateway: p.Gateway})
		}
	}
	if len(out.Config) == 0 {
		return nil
	}
	return &out
}

// service converts one service. ok is false when it has problems (all of
// them recorded).
func (c *converter) service(s types.ServiceConfig) (api.ServiceSpec, bool) {
	nerr := len(c.l.errs)
	name := s.Name
	base := []string{"services", name}
	at := func(rest ...any) []string {
		segs := append([]string{}, base...)
		for _, r := range rest {
			segs = append(segs, fmt.Sprint(r))
		}
		return segs
	}
	fail := func(segs []string, format string, a ...any) { c.l.fail(c.l.at(segs, format, a...)) }

	spec := api.ServiceSpec{Name: c.stack + "_" + name}
	var deploy types.DeployConfig
	if s.Deploy != nil {
		deploy = *s.Deploy
	}
	spec.Labels = withNamespace(deploy.Labels, c.stack)
	if s.Image != "" {
		// As docker stack deploy: tools find a stack service's image here.
		spec.Labels[api.StackImageLabel] = s.Image
	}

	cs := api.ContainerSpec{
		Image:           s.Image,
		Labels:          withNamespace(s.Labels, c.stack),
		Command:         copyStrings(s.Entrypoint),
		Args:            copyStrings(s.Command),
		Hostname:        s.Hostname,
		Dir:             s.WorkingDir,
		User:            s.User,
		StopSignal:      s.StopSignal,
		StopGracePeriod: durationPtr(s.StopGracePeriod),
		Init:            s.Init,
		ReadOnly:        s.ReadOnly,
		CapAdd:          copyStrings(s.CapAdd),
		CapDrop:         copyStrings(s.CapDrop),
	}
	if s.Image == "" {
		// A service without an image runs its command as a host process
		// (shoal's process runtime): entrypoint and command are its argv.
		cs.Command = append(cs.Command, cs.Args...)
		cs.Args = nil
	}
	for k, v := range s.Environment {
		// A variable listed without a value and not set in the
		// environment is left out, as Docker leaves it unset.
		if v != nil {
			cs.Env = append(cs.Env, k+"="+*v)
		}
	}
	sort.Strings(cs.Env)
	if len(s.Sysctls) > 0 {
		cs.Sysctls = copyMap(s.Sysctls)
	}
	for _, k := range sortedNames(s.Ulimits) {
		u := s.Ulimits[k]
		if u == nil {
			continue
		}
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		if soft > hard {
			fail(at("ulimits", k), "soft limit %d is above the hard limit %d", soft, hard)
		}
		cs.Ulimits = append(cs.Ulimits, api.Ulimit{Name: k, Soft: soft, Hard: hard})
	}
	for _, host := range sortedNames(s.ExtraHosts) {
		for _, ip := range s.ExtraHosts[host] {
			cs.Hosts = append(cs.Hosts, ip+" "+host)
		}
	}
	if len(s.DNS) > 0 || len(s.DNSSearch) > 0 || len(s.DNSOpts) > 0 {
		cs.DNSConfig = &api.DNSConfig{Nameservers: copyStrings(s.DNS), Search: copyStrings(s.DNSSearch), Options: copyStrings(s.DNSOpts)}
	}
	cs.Healthcheck = c.healthcheck(s.HealthCheck, at("healthcheck"))

	for i, ref := range s.Configs {
		def, declared := c.p.Configs[ref.Source]
		if name, file, ok := c.fileRef("config", "/", types.FileReferenceConfig(ref), types.FileObjectConfig(def), declared, at("configs", i)); ok {
			cs.Configs = append(cs.Configs, api.ConfigReference{ConfigName: name, File: file})
		}
	}
	for i, ref := range s.Secrets {
		def, declared := c.p.Secrets[ref.Source]
		if name, file, ok := c.fileRef("secret", "/run/secrets/", types.FileReferenceConfig(ref), types.FileObjectConfig(def), declared, at("secrets", i)); ok {
			cs.Secrets = append(cs.Secrets, api.SecretReference{SecretName: name, File: file})
		}
	}

	for i, v := range s.Volumes {
		if m, ok := c.mount(v, at("volumes", i)); ok {
			cs.Mounts = append(cs.Mounts, m)
		}
	}
	for i, t := range s.Tmpfs {
		if m, ok := c.tmpfs(t, at("tmpfs", i)); ok {
			cs.Mounts = append(cs.Mounts, m)
		}
	}

	task := api.TaskSpec{ContainerSpec: cs}
	if s.Logging != nil && (s.Logging.Driver != "" || len(s.Logging.Options) > 0) {
		task.LogDriver = &api.Driver{Name: s.Logging.Driver}
		if len(s.Logging.Options) > 0 {
			task.LogDriver.Options = copyMap(s.Logging.Options)
		}
	}
	task.Networks = c.serviceNetworks(s, at)

	// deploy
	replicas := deploy.Replicas
	if s.Scale != nil {
		if replicas != nil && *replicas != *s.Scale {
			fail(at("scale"), "scale %d and deploy.replicas %d differ", *s.Scale, *replicas)
		}
		replicas = s.Scale
	}
	switch deploy.Mode {
	case "", "replicated":
		n := 1
		if replicas != nil {
			n = *replicas
		}
		if n < 0 {
			fail(at("deploy", "replicas"), "replicas %d is negative", n)
			n = 0
		}
		spec.Mode.Replicated = &api.ReplicatedService{Replicas: uint64(n)}
	case "global", "global-job":
		if replicas != nil {
			fail(at("deploy", "replicas"), "replicas can only be used with replicated mode, not %s", deploy.Mode)
		}
		if deploy.Mode == "global" {
			spec.Mode.Global = &api.GlobalService{}
		} else {
			spec.Mode.GlobalJob = &api.GlobalJob{}
		}
	case "replicated-job":
		// As docker stack deploy: replicas is both the completions and
		// how many run at once; unset, both are 1 (the API's defaults).
		var n uint64
		if replicas != nil {
			if *replicas < 0 {
				fail(at("deploy", "replicas"), "replicas %d is negative", *replicas)
			} else {
				n = uint64(*replicas)
			}
		}
		spec.Mode.ReplicatedJob = &api.ReplicatedJob{MaxConcurrent: n, TotalCompletions: n}
	default:
		fail(at("deploy", "mode"), "mode %q is not supported: want replicated, global, replicated-job or global-job", deploy.Mode)
		// A stand-in, so that validation does not also say the mode is
		// missing.
		spec.Mode.Replicated = &api.ReplicatedService{}
	}

	task.Resources = resources(deploy.Resources)
	task.RestartPolicy = c.restartPolicy(s.Restart, deploy.RestartPolicy, at("restart"))
	task.Placement = c.placement(deploy.Placement, spec.Mode.IsGlobal(), at)
	spec.TaskTemplate = task
	spec.UpdateConfig = updateConfig(deploy.UpdateConfig)
	spec.RollbackConfig = updateConfig(deploy.RollbackConfig)
	spec.EndpointSpec = c.endpoint(s, deploy.EndpointMode, at)

	// What the managers' validation finds that is not checked above, even
	// when the checks above found something: every problem is listed. A
	// check above leaves out the value it refused, so none is said twice.
	for _, e := range splitErrors(errors.Join(spec.Validate(), spec.EndpointSpec.ValidateEndpoint())) {
		fail(base, "service %s: %v", spec.Name, e)
	}
	c.routingLabels(spec.Name, deploy.Labels, at)
	return spec, len(c.l.errs) == nerr
}

// labelLimits checks the labels of an object the stack creates against
// the managers' limits.
func (c *converter) labelLimits(kind string, labels map[string]string, segs []string) {
	if err := api.ValidateLabelLimits(kind+" labels", labels); err != nil {
		c.l.fail(c.l.at(segs, "%v", err))
	}
}

// routingLabels checks a service's Traefik labels as the managers will,
// each problem at its label: a label they refuse must fail the plan, not
// the deploy half-way. The converter checks nothing in labels itself, so
// these problems are never reported twice. Labels the ingress accepts
// without acting on them are warnings, with the reason.
func (c *converter) routingLabels(name string, labels map[string]string, at func(...any) []string) {
	routes, err := ingress.ParseLabels(name, labels)
	if routes != nil {
		for _, ig := range routes.Ignored {
			c.l.warnings = append(c.l.warnings, fmt.Sprintf("service %s: label %s has no effect: %s", name, ig.Label, ig.Reason))
		}
	}
	for _, e := range splitErrors(err) {
		var le *ingress.LabelError
		if errors.As(e, &le) {
			c.l.fail(c.l.at(at("deploy", "labels", le.Label), "%s", le.Msg))
			continue
		}
		c.l.fail(c.l.at(at("deploy", "labels"), "%v", e))
	}
}

func (c *converter) healthcheck(h *types.HealthCheckConfig, segs []string) *api.HealthCheck {
	if h == nil {
		return nil
	}
	out := &api.HealthCheck{
		Interval:      durationPtr(h.Interval),
		Timeout:       durationPtr(h.Timeout),
		StartPeriod:   durationPtr(h.StartPeriod),
		StartInterval: durationPtr(h.StartInterval),
	}
	if h.Retries != nil {
		r := *h.Retries
		out.Retries = &r
	}
	// Docker refuses negative timings; say so at the key, and leave the
	// value out so that the spec's validation does not say it again.
	for _, d := range []struct {
		key string
		d   *types.Duration
		out **api.Duration
	}{{"interval", h.Interval, &out.Interval}, {"timeout", h.Timeout, &out.Timeout}, {"start_period", h.StartPeriod, &out.StartPeriod}, {"start_interval", h.StartInterval, &out.StartInterval}} {
		if d.d != nil && *d.d < 0 {
			c.l.fail(c.l.at(append(segs, d.key), "%s must not be negative", time.Duration(*d.d)))
			*d.out = nil
		}
	}
	test := []string(h.Test)
	switch {
	case h.Disable:
		if len(test) > 0 && !(len(test) == 1 && test[0] == "NONE") {
			c.l.fail(c.l.at(segs, "test and disable can't be set at the same time"))
		}
		// A disabled check keeps no timing.
		return &api.HealthCheck{Test: []string{"NONE"}}
	case len(test) > 0:
		switch test[0] {
		case "CMD", "CMD-SHELL", "NONE":
		default:
			c.l.fail(c.l.at(append(segs, "test"), "test %q must start with \"CMD\", \"CMD-SHELL\" or \"NONE\"", test[0]))
		}
		out.Test = copyStrings(test)
	}
	if out.Test == nil && out.Interval == nil && out.Timeout == nil && out.StartPeriod == nil &&
		out.StartInterval == nil && out.Retries == nil {
		return nil
	}
	return out
}

// isAbsTarget reports whether a config or secret target is an absolute
// path: a Unix one, or a Windows one (C:\app\x.config), which is kept as
// written.
func isAbsTarget(t string) bool {
	return path.IsAbs(t) || paths.IsWindowsAbs(t)
}

// fileRef resolves a service's reference to a config or secret: the
// object's name and its file in the task, a relative target (or none)
// under dir. It fails, returning false, when the object is not declared.
func (c *converter) fileRef(kind, dir string, ref types.FileReferenceConfig, def types.FileObjectConfig, declared bool, segs []string) (string, *api.FileTarget, bool) {
	if !declared {
		c.l.fail(c.l.at(segs, "%s %q is not defined: declare it under the top-level %ss", kind, ref.Source, kind))
		return "", nil, false
	}
	target := ref.Target
	switch {
	case target == "":
		target = dir + ref.Source
	case !isAbsTarget(target):
		target = dir + target
	}
	return c.objName(ref.Source, def.Name, bool(def.External)), c.fileTarget(target, ref.UID, ref.GID, ref.Mode, segs), true
}

func (c *converter) fileTarget(target, uid, gid string, mode *types.FileMode, segs []string) *api.FileTarget {
	ft := &api.FileTarget{Name: target, UID: uid, GID: gid}
	if mode != nil {
		if *mode < 0 || *mode > 0o7777 {
			c.l.fail(c.l.at(append(segs, "mode"), "mode %#o is not a file mode", int64(*mode)))
		} else {
			ft.Mode = uint32(*mode)
		}
	}
	return ft
}

func (c *converter) mount(v types.ServiceVolumeConfig, segs []string) (api.Mount, bool) {
	m := api.Mount{Target: v.Target, ReadOnly: v.ReadOnly}
	if v.Target == "" {
		c.l.fail(c.l.at(segs, "no target: give the path inside the container"))
		return m, false
	}
	switch v.Type {
	case types.VolumeTypeVolume:
		m.Type = api.MountVolume
		var labels map[string]string
		if v.Source != "" {
			vi, ok := c.vols[v.Source]
			if !ok {
				c.l.fail(c.l.at(segs, "volume %q is not defined: declare it under the top-level volumes", v.Source))
				return m, false
			}
			m.Source = vi.name
			if !vi.external {
				labels = copyMap(vi.labels)
			}
		}
		if v.Volume != nil && len(v.Volume.Labels) > 0 {
			if labels == nil {
				labels = map[string]string{}
			}
			for k, val := range v.Volume.Labels {
				labels[k] = val
			}
		}
		m.VolumeLabels = labels
	case types.VolumeTypeBind:
		m.Type = api.MountBind
		m.Source = v.Source
		if m.Source == "" {
			c.l.fail(c.l.at(segs, "bind mount without a source"))
			return m, false
		}
	case types.VolumeTypeTmpfs:
		m.Type = api.MountTmpfs
		if v.Source != "" {
			c.l.fail(c.l.at(segs, "a tmpfs mount takes no source (got %q)", v.Source))
			return m, false
		}
		if v.Tmpfs != nil {
			m.TmpfsSize = int64(v.Tmpfs.Size)
			m.TmpfsMode = v.Tmpfs.Mode
		}
	default:
		c.l.fail(c.l.at(segs, "volume type %q is not supported: want volume, bind or tmpfs", v.Type))
		return m, false
	}
	return m, true
}

// tmpfs reads a service's `tmpfs:` entry, "PATH[:OPTIONS]" as for
// `docker run --tmpfs`.
func (c *converter) tmpfs(spec string, segs []string) (api.Mount, bool) {
	target, opts, _ := strings.Cut(spec, ":")
	m := api.Mount{Type: api.MountTmpfs, Target: target}
	if !path.IsAbs(target) {
		c.l.fail(c.l.at(segs, "tmpfs %q: the target must be an absolute path", spec))
		return m, false
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(o), "=")
		switch k {
		case "":
		case "ro":
			m.ReadOnly = true
		case "size":
			n, err := units.RAMInBytes(v)
			if err != nil || n < 0 {
				c.l.fail(c.l.at(segs, "tmpfs %q: invalid size %q", spec, v))
				return m, false
			}
			m.TmpfsSize = n
		case "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				c.l.fail(c.l.at(segs, "tmpfs %q: invalid mode %q", spec, v))
				return m, false
			}
			m.TmpfsMode = uint32(n)
		default:
			c.l.unsupported["tmpfs."+k] = true
		}
	}
	return m, true
}

func (c *converter) serviceNetworks(s types.ServiceConfig, at func(...any) []string) []api.NetworkAttachment {
	nets := s.Networks
	if len(nets) == 0 {
		// No network listed (or network_mode, which a stack ignores): the
		// stack's default network, as docker stack deploy does.
		nets = map[string]*types.ServiceNetworkConfig{"default": nil}
	}
	var out []api.NetworkAttachment
	for _, key := range sortedNames(nets) {
		cfg := nets[key]
		def, ok := c.p.Networks[key]
		if !ok && key != "default" {
			c.l.fail(c.l.at(at("networks", key), "network %q is not defined: declare it under the top-level networks", key))
			continue
		}
		c.usedNets[key] = true
		target := c.stack + "_" + key
		if ok {
			target = c.objName(key, def.Name, bool(def.External))
		}
		var aliases []string
		if cfg != nil {
			aliases = append(aliases, cfg.Aliases...)
		}
		// Other services reach this one by its name in the file.
		if cfg.ServiceNameAliasEnabled() && !contains(aliases, s.Name) {
			aliases = append(aliases, s.Name)
		}
		out = append(out, api.NetworkAttachment{Target: target, Aliases: aliases})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (c *converter) endpoint(s types.ServiceConfig, mode string, at func(...any) []string) *api.EndpointSpec {
	switch mode {
	case "", "vip", "dnsrr":
	default:
		c.l.fail(c.l.at(at("deploy", "endpoint_mode"), "endpoint mode %q: want vip or dnsrr", mode))
		// Left out, as the ports below: validation would say it again.
		mode = ""
	}
	if len(s.Ports) == 0 && mode == "" {
		return nil
	}
	ep := &api.EndpointSpec{Mode: mode}
	for i, p := range s.Ports {
		pc := api.PortConfig{Name: p.Name, Protocol: p.Protocol, TargetPort: p.Target, PublishMode: p.Mode}
		if p.Published != "" {
			n, err := strconv.ParseUint(p.Published, 10, 32)
			if err != nil || n == 0 || n > 65535 {
				c.l.fail(c.l.at(at("ports", i), "published port %q: want a port number from 1 to 65535 (one per entry)", p.Published))
				continue
			}
			pc.PublishedPort = uint32(n)
		}
		if p.HostIP != "" {
			c.l.unsupported["ports.host_ip"] = true
		}
		ingress := pc.PublishMode == "" || pc.PublishMode == "ingress"
		if ingress && mode == "dnsrr" {
			// A target-only port is published too: the manager gives it a
			// port from 30000-32767.
			port := pc.PublishedPort
			if port == 0 {
				port = pc.TargetPort
			}
			c.l.fail(c.l.at(at("ports", i), "port %d is published in ingress mode, which endpoint_mode dnsrr does not allow: use mode: host", port))
			continue
		}
		if pc.PublishedPort != 0 && ingress {
			c.published = append(c.published, publishedPort{service: s.Name, index: i,
				key: fmt.Sprintf("%d/%s", pc.PublishedPort, protoOrTCP(pc.Protocol))})
		}
		ep.Ports = append(ep.Ports, pc)
	}
	return ep
}

func protoOrTCP(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}

// checkPublishedPorts finds ingress ports published by two services: the
// routing mesh gives a port to one service only.
func (c *converter) checkPublishedPorts([]api.ServiceSpec) {
	owner := map[string]string{}
	sort.SliceStable(c.published, func(i, j int) bool {
		if c.published[i].service != c.published[j].service {
			return c.published[i].service < c.published[j].service
		}
		return c.published[i].index < c.published[j].index
	})
	for _, p := range c.published {
		first, ok := owner[p.key]
		switch {
		case !ok:
			owner[p.key] = p.service
		case first != p.service:
			c.l.fail(c.l.at([]string{"services", p.service, "ports", strconv.Itoa(p.index)},
				"published port %s is already published by service %s", p.key, first))
		}
	}
}

func resources(r types.Resources) *api.ResourceRequirements {
	conv := func(res *types.Resource) *api.Resources {
		if res == nil || (res.NanoCPUs == 0 && res.MemoryBytes == 0) {
			return nil
		}
		return &api.Resources{NanoCPUs: nanoCPUs(float32(res.NanoCPUs)), MemoryBytes: int64(res.MemoryBytes)}
	}
	out := &api.ResourceRequirements{Limits: conv(r.Limits), Reservations: conv(r.Reservations)}
	if out.Limits == nil && out.Reservations == nil {
		return nil
	}
	return out
}

// nanoCPUs converts a number of CPUs, read as a float32, to nano CPUs
// without the float32's rounding noise (0.1 is 100000000, not 100000001).
func nanoCPUs(f float32) int64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil {
		v = float64(f)
	}
	return int64(math.Round(v * 1e9))
}

func (c *converter) restartPolicy(restart string, rp *types.RestartPolicy, segs []string) *api.RestartPolicy {
	if rp != nil {
		out := &api.RestartPolicy{Condition: rp.Condition, Delay: durationPtr(rp.Delay), Window: durationPtr(rp.Window)}
		if rp.MaxAttempts != nil {
			n := *rp.MaxAttempts
			out.MaxAttempts = &n
		}
		return out
	}
	// Without deploy.restart_policy, docker stack deploy reads the service's
	// restart option (and warns that it is unsupported).
	switch {
	case restart == "" || restart == "no":
		return nil
	case restart == "always" || restart == "unless-stopped":
		return &api.RestartPolicy{Condition: api.RestartConditionAny}
	case restart == "on-failure" || strings.HasPrefix(restart, "on-failure:"):
		out := &api.RestartPolicy{Condition: api.RestartConditionOnFailure}
		if _, n, ok := strings.Cut(restart, ":"); ok {
			attempts, err := strconv.ParseUint(n, 10, 64)
			if err != nil {
				c.l.fail(c.l.at(segs, "restart %q: invalid maximum retry count", restart))
				return nil
			}
			out.MaxAttempts = &attempts
		}
		return out
	default:
		c.l.fail(c.l.at(segs, "restart %q: want no, always, unless-stopped or on-failure[:N]", restart))
		return nil
	}
}

func (c *converter) placement(p types.Placement, global bool, at func(...any) []string) *api.Placement {
	out := &api.Placement{MaxReplicas: p.MaxReplicas}
	for i, expr := range p.Constraints {
		if _, err := api.ParseConstraint(expr); err != nil {
			c.l.fail(c.l.at(at("deploy", "placement", "constraints", i), "%v", err))
			continue
		}
		out.Constraints = append(out.Constraints, expr)
	}
	for i, pref := range p.Preferences {
		if strings.TrimSpace(pref.Spread) == "" {
			c.l.fail(c.l.at(at("deploy", "placement", "preferences", i), "spread: give a node attribute, such as node.labels.zone"))
			continue
		}
		out.Preferences = append(out.Preferences, api.PlacementPreference{Spread: pref.Spread})
	}
	if global && p.MaxReplicas > 0 {
		c.l.fail(c.l.at(at("deploy", "placement", "max_replicas_per_node"), "max_replicas_per_node can only be used with replicated mode"))
	}
	if len(out.Constraints) == 0 && len(out.Preferences) == 0 && out.MaxReplicas == 0 {
		return nil
	}
	return out
}

func updateConfig(u *types.UpdateConfig) *api.UpdateConfig {
	if u == nil {
		return nil
	}
	out := &api.UpdateConfig{
		Parallelism:     1,
		Delay:           api.Duration(u.Delay),
		FailureAction:   u.FailureAction,
		Monitor:         api.Duration(u.Monitor),
		MaxFailureRatio: u.MaxFailureRatio,
		Order:           u.Order,
	}
	if u.Parallelism != nil {
		out.Parallelism = *u.Parallelism
	}
	return out
}

func durationPtr(d *types.Duration) *api.Duration {
	if d == nil {
		return nil
	}
	return api.DurationPtr(time.Duration(*d))
}

func copyStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}
