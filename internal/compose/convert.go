package compose

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

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
	// Where the spec's list entries come from, to place validation's
	// problems.
	o := origins{}
	cp := func(rest ...any) []string {
		path := []string{"TaskTemplate", "ContainerSpec"}
		for _, r := range rest {
			path = append(path, fmt.Sprint(r))
		}
		return path
	}

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
		TTY:             s.Tty,
		CapAdd:          copyStrings(s.CapAdd),
		CapDrop:         copyStrings(s.CapDrop),
	}
	if s.Image == "" {
		// A service without an image runs its command as a host process
		// (shoal's process runtime): entrypoint and command are its argv.
		cs.Command = append(cs.Command, cs.Args...)
		cs.Args = nil
		for i := range s.Command {
			o.set(cp("Command", len(s.Entrypoint)+i), at("command", i))
		}
		if len(s.Entrypoint) == 0 {
			o.set(cp("Command"), at("command"))
		}
	} else {
		for i := range s.Command {
			o.set(cp("Args", i), at("command", i))
		}
	}
	for i := range s.Entrypoint {
		o.set(cp("Command", i), at("entrypoint", i))
	}
	for k, v := range s.Environment {
		// A variable listed without a value and not set in the
		// environment is left out, as Docker leaves it unset.
		if v != nil {
			cs.Env = append(cs.Env, k+"="+*v)
		}
	}
	sort.Strings(cs.Env)
	for i, e := range cs.Env {
		k, _, _ := strings.Cut(e, "=")
		o.set(cp("Env", i), at("environment", k))
	}
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
		o.set(cp("Ulimits", len(cs.Ulimits)), at("ulimits", k))
		cs.Ulimits = append(cs.Ulimits, api.Ulimit{Name: k, Soft: soft, Hard: hard})
	}
	for _, host := range sortedNames(s.ExtraHosts) {
		for _, ip := range s.ExtraHosts[host] {
			o.set(cp("Hosts", len(cs.Hosts)), at("extra_hosts", host))
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
			o.set(cp("Configs", len(cs.Configs)), at("configs", i))
			cs.Configs = append(cs.Configs, api.ConfigReference{ConfigName: name, File: file})
		}
	}
	for i, ref := range s.Secrets {
		def, declared := c.p.Secrets[ref.Source]
		if name, file, ok := c.fileRef("secret", "/run/secrets/", types.FileReferenceConfig(ref), types.FileObjectConfig(def), declared, at("secrets", i)); ok {
			o.set(cp("Secrets", len(cs.Secrets)), at("secrets", i))
			cs.Secrets = append(cs.Secrets, api.SecretReference{SecretName: name, File: file})
		}
	}

	for i, v := range s.Volumes {
		if m, ok := c.mount(v, at("volumes", i)); ok {
			o.set(cp("Mounts", len(cs.Mounts)), at("volumes", i))
			cs.Mounts = append(cs.Mounts, m)
		}
	}
	for i, t := range s.Tmpfs {
		if m, ok := c.tmpfs(t, at("tmpfs", i)); ok {
			o.set(cp("Mounts", len(cs.Mounts)), at("tmpfs", i))
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
	task.Networks = c.serviceNetworks(s, at, o)

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
	task.Placement = c.placement(deploy.Placement, spec.Mode.IsGlobal(), at, o)
	spec.TaskTemplate = task
	spec.UpdateConfig = updateConfig(deploy.UpdateConfig)
	spec.RollbackConfig = updateConfig(deploy.RollbackConfig)
	spec.EndpointSpec = c.endpoint(s, deploy.EndpointMode, at, o)
	c.validate(&spec, o, base)
	c.routingLabels(&spec, at)
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
func (c *converter) routingLabels(spec *api.ServiceSpec, at func(...any) []string) {
	name := spec.Name
	routes, err := ingress.ParseService(spec, ingress.Env{})
	if routes != nil {
		for _, ig := range routes.Ignored {
			c.l.warnings = append(c.l.warnings, fmt.Sprintf("service %s: label %s has no effect: %s", name, ig.Label, ig.Reason))
		}
	}
	for _, e := range api.SplitErrors(err) {
		var le *ingress.LabelError
		if errors.As(e, &le) {
			c.l.fail(c.l.at(at("deploy", "labels", le.Label), "%s", le.Msg))
			continue
		}
		c.l.fail(c.l.at(at("deploy", "labels"), "%v", e))
	}
}
