package dockerapi

import (
	"net/netip"
	"os"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/api"
)

// serviceSpecIn converts a Docker service spec to shoal's, refusing what
// shoal cannot honour with the field's name.
func serviceSpecIn(d swarm.ServiceSpec) (api.ServiceSpec, error) {
	var u unsupported
	ts := d.TaskTemplate
	u.set(ts.PluginSpec != nil, "TaskTemplate.PluginSpec")
	u.set(ts.NetworkAttachmentSpec != nil, "TaskTemplate.NetworkAttachmentSpec")
	u.set(ts.Runtime != "" && ts.Runtime != swarm.RuntimeContainer, "TaskTemplate.Runtime="+string(ts.Runtime))
	out := api.ServiceSpec{
		Name:   d.Name,
		Labels: d.Labels,
		TaskTemplate: api.TaskSpec{
			ForceUpdate: ts.ForceUpdate,
			Resources:   resourcesIn(ts.Resources, &u),
			Placement:   placementIn(ts.Placement, &u),
			LogDriver:   driverIn(ts.LogDriver),
		},
		Mode:           modeIn(d.Mode),
		UpdateConfig:   updateConfigIn(d.UpdateConfig),
		RollbackConfig: updateConfigIn(d.RollbackConfig),
		EndpointSpec:   endpointSpecIn(d.EndpointSpec),
	}
	if rp := ts.RestartPolicy; rp != nil {
		out.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: string(rp.Condition),
			Delay: durPtrIn(rp.Delay), MaxAttempts: rp.MaxAttempts, Window: durPtrIn(rp.Window)}
	}
	for _, n := range ts.Networks {
		u.set(len(n.DriverOpts) > 0, "TaskTemplate.Networks.DriverOpts")
		out.TaskTemplate.Networks = append(out.TaskTemplate.Networks, api.NetworkAttachment{Target: n.Target, Aliases: n.Aliases})
	}
	if cs := ts.ContainerSpec; cs != nil {
		out.TaskTemplate.ContainerSpec = containerSpecIn(cs, &u)
	}
	return out, u.err()
}

func containerSpecIn(cs *swarm.ContainerSpec, u *unsupported) api.ContainerSpec {
	u.set(len(cs.Groups) > 0, "ContainerSpec.Groups")
	u.set(cs.Privileges != nil && !zeroPrivileges(cs.Privileges), "ContainerSpec.Privileges")
	u.set(cs.TTY, "ContainerSpec.TTY")
	u.set(cs.OpenStdin, "ContainerSpec.OpenStdin")
	u.set(cs.Isolation != "" && cs.Isolation != container.IsolationDefault, "ContainerSpec.Isolation")
	u.set(cs.OomScoreAdj != 0, "ContainerSpec.OomScoreAdj")
	out := api.ContainerSpec{
		Image: cs.Image, Labels: cs.Labels, Command: cs.Command, Args: cs.Args,
		Hostname: cs.Hostname, Env: cs.Env, Dir: cs.Dir, User: cs.User,
		StopSignal: cs.StopSignal, StopGracePeriod: durPtrIn(cs.StopGracePeriod),
		Init: cs.Init, ReadOnly: cs.ReadOnly, CapAdd: cs.CapabilityAdd, CapDrop: cs.CapabilityDrop,
		Sysctls: cs.Sysctls, Hosts: cs.Hosts,
	}
	if hc := cs.Healthcheck; hc != nil {
		out.Healthcheck = &api.HealthCheck{Test: hc.Test, Interval: durIn(hc.Interval), Timeout: durIn(hc.Timeout),
			StartPeriod: durIn(hc.StartPeriod), StartInterval: durIn(hc.StartInterval)}
		if hc.Retries != 0 {
			r := uint64(hc.Retries)
			out.Healthcheck.Retries = &r
		}
	}
	if dc := cs.DNSConfig; dc != nil {
		out.DNSConfig = &api.DNSConfig{Search: dc.Search, Options: dc.Options}
		for _, a := range dc.Nameservers {
			out.DNSConfig.Nameservers = append(out.DNSConfig.Nameservers, a.String())
		}
	}
	for _, ul := range cs.Ulimits {
		if ul != nil {
			out.Ulimits = append(out.Ulimits, api.Ulimit{Name: ul.Name, Soft: ul.Soft, Hard: ul.Hard})
		}
	}
	for _, m := range cs.Mounts {
		out.Mounts = append(out.Mounts, mountIn(m, u))
	}
	for _, r := range cs.Configs {
		if r == nil {
			continue
		}
		u.set(r.Runtime != nil, "ContainerSpec.Configs.Runtime")
		ref := api.ConfigReference{ConfigName: r.ConfigName, ConfigID: r.ConfigID}
		if f := r.File; f != nil {
			ref.File = &api.FileTarget{Name: f.Name, UID: f.UID, GID: f.GID, Mode: uint32(f.Mode)}
		}
		out.Configs = append(out.Configs, ref)
	}
	for _, r := range cs.Secrets {
		if r == nil {
			continue
		}
		ref := api.SecretReference{SecretName: r.SecretName, SecretID: r.SecretID}
		if f := r.File; f != nil {
			ref.File = &api.FileTarget{Name: f.Name, UID: f.UID, GID: f.GID, Mode: uint32(f.Mode)}
		}
		out.Secrets = append(out.Secrets, ref)
	}
	return out
}

func zeroPrivileges(p *swarm.Privileges) bool {
	return p.CredentialSpec == nil && p.SELinuxContext == nil && p.Seccomp == nil && p.AppArmor == nil && !p.NoNewPrivileges
}

func mountIn(m mount.Mount, u *unsupported) api.Mount {
	u.set(m.Consistency != "" && m.Consistency != mount.ConsistencyDefault, "Mounts.Consistency")
	u.set(m.ImageOptions != nil, "Mounts.ImageOptions")
	u.set(m.ClusterOptions != nil, "Mounts.ClusterOptions")
	u.set(m.BindOptions != nil && *m.BindOptions != (mount.BindOptions{}), "Mounts.BindOptions")
	out := api.Mount{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	if v := m.VolumeOptions; v != nil {
		u.set(v.NoCopy || v.Subpath != "" || v.DriverConfig != nil && v.DriverConfig.Name != "" && v.DriverConfig.Name != "local", "Mounts.VolumeOptions")
		out.VolumeLabels = v.Labels
	}
	if t := m.TmpfsOptions; t != nil {
		u.set(len(t.Options) > 0, "Mounts.TmpfsOptions.Options")
		out.TmpfsSize, out.TmpfsMode = t.SizeBytes, uint32(t.Mode)
	}
	return out
}

func resourcesIn(r *swarm.ResourceRequirements, u *unsupported) *api.ResourceRequirements {
	if r == nil {
		return nil
	}
	u.set(r.SwapBytes != nil, "Resources.SwapBytes")
	u.set(r.MemorySwappiness != nil, "Resources.MemorySwappiness")
	out := &api.ResourceRequirements{}
	if l := r.Limits; l != nil && (l.NanoCPUs != 0 || l.MemoryBytes != 0 || l.Pids != 0) {
		u.set(l.Pids != 0, "Resources.Limits.Pids")
		out.Limits = &api.Resources{NanoCPUs: l.NanoCPUs, MemoryBytes: l.MemoryBytes}
	}
	if v := r.Reservations; v != nil && (v.NanoCPUs != 0 || v.MemoryBytes != 0 || len(v.GenericResources) > 0) {
		u.set(len(v.GenericResources) > 0, "Resources.Reservations.GenericResources")
		out.Reservations = &api.Resources{NanoCPUs: v.NanoCPUs, MemoryBytes: v.MemoryBytes}
	}
	if out.Limits == nil && out.Reservations == nil {
		return nil
	}
	return out
}

func placementIn(p *swarm.Placement, u *unsupported) *api.Placement {
	if p == nil || len(p.Constraints) == 0 && len(p.Preferences) == 0 && p.MaxReplicas == 0 && len(p.Platforms) == 0 {
		return nil
	}
	// Platforms come from the image's manifest when the CLI resolves it;
	// shoal's scheduler has its own platform check, so they are dropped
	// as the docker CLI does for images it could not resolve.
	out := &api.Placement{Constraints: p.Constraints, MaxReplicas: p.MaxReplicas}
	for _, pref := range p.Preferences {
		if pref.Spread == nil {
			u.set(true, "Placement.Preferences (only spread)")
			continue
		}
		out.Preferences = append(out.Preferences, api.PlacementPreference{Spread: pref.Spread.SpreadDescriptor})
	}
	return out
}

func driverIn(d *swarm.Driver) *api.Driver {
	if d == nil {
		return nil
	}
	return &api.Driver{Name: d.Name, Options: d.Options}
}

func modeIn(m swarm.ServiceMode) api.ServiceMode {
	switch {
	case m.Global != nil:
		return api.ServiceMode{Global: &api.GlobalService{}}
	case m.GlobalJob != nil:
		return api.ServiceMode{GlobalJob: &api.GlobalJob{}}
	case m.ReplicatedJob != nil:
		j := &api.ReplicatedJob{}
		if m.ReplicatedJob.MaxConcurrent != nil {
			j.MaxConcurrent = *m.ReplicatedJob.MaxConcurrent
		}
		if m.ReplicatedJob.TotalCompletions != nil {
			j.TotalCompletions = *m.ReplicatedJob.TotalCompletions
		}
		return api.ServiceMode{ReplicatedJob: j}
	}
	n := uint64(1) // Docker's default for a replicated service
	if m.Replicated != nil && m.Replicated.Replicas != nil {
		n = *m.Replicated.Replicas
	}
	return api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: n}}
}

func updateConfigIn(c *swarm.UpdateConfig) *api.UpdateConfig {
	if c == nil {
		return nil
	}
	return &api.UpdateConfig{Parallelism: c.Parallelism, Delay: api.Duration(c.Delay), FailureAction: string(c.FailureAction),
		Monitor: api.Duration(c.Monitor), MaxFailureRatio: c.MaxFailureRatio, Order: string(c.Order)}
}

func endpointSpecIn(e *swarm.EndpointSpec) *api.EndpointSpec {
	if e == nil {
		return nil
	}
	out := &api.EndpointSpec{Mode: string(e.Mode)}
	for _, p := range e.Ports {
		out.Ports = append(out.Ports, portIn(p))
	}
	return out
}

func portIn(p swarm.PortConfig) api.PortConfig {
	return api.PortConfig{Name: p.Name, Protocol: string(p.Protocol), TargetPort: p.TargetPort,
		PublishedPort: p.PublishedPort, PublishMode: string(p.PublishMode)}
}

func durIn(d time.Duration) *api.Duration {
	if d == 0 {
		return nil
	}
	v := api.Duration(d)
	return &v
}

func durPtrIn(d *time.Duration) *api.Duration {
	if d == nil {
		return nil
	}
	v := api.Duration(*d)
	return &v
}

// serviceSpecOut converts shoal's service spec to Docker's.
func serviceSpecOut(s api.ServiceSpec) swarm.ServiceSpec {
	ts := s.TaskTemplate
	out := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: s.Name, Labels: nonNil(s.Labels)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: containerSpecOut(ts.ContainerSpec),
			ForceUpdate:   ts.ForceUpdate,
			Runtime:       swarm.RuntimeContainer,
		},
		Mode:           modeOut(s.Mode),
		UpdateConfig:   updateConfigOut(s.UpdateConfig),
		RollbackConfig: updateConfigOut(s.RollbackConfig),
	}
	if r := ts.Resources; r != nil {
		out.TaskTemplate.Resources = &swarm.ResourceRequirements{}
		if r.Limits != nil {
			out.TaskTemplate.Resources.Limits = &swarm.Limit{NanoCPUs: r.Limits.NanoCPUs, MemoryBytes: r.Limits.MemoryBytes}
		}
		if r.Reservations != nil {
			out.TaskTemplate.Resources.Reservations = &swarm.Resources{NanoCPUs: r.Reservations.NanoCPUs, MemoryBytes: r.Reservations.MemoryBytes}
		}
	}
	if rp := ts.RestartPolicy; rp != nil {
		out.TaskTemplate.RestartPolicy = &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition),
			Delay: durPtrOut(rp.Delay), MaxAttempts: rp.MaxAttempts, Window: durPtrOut(rp.Window)}
	}
	if p := ts.Placement; p != nil {
		out.TaskTemplate.Placement = &swarm.Placement{Constraints: p.Constraints, MaxReplicas: p.MaxReplicas}
		for _, pref := range p.Preferences {
			out.TaskTemplate.Placement.Preferences = append(out.TaskTemplate.Placement.Preferences,
				swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: pref.Spread}})
		}
	}
	for _, n := range ts.Networks {
		out.TaskTemplate.Networks = append(out.TaskTemplate.Networks, swarm.NetworkAttachmentConfig{Target: n.Target, Aliases: n.Aliases})
	}
	if d := ts.LogDriver; d != nil {
		out.TaskTemplate.LogDriver = &swarm.Driver{Name: d.Name, Options: d.Options}
	}
	if e := s.EndpointSpec; e != nil {
		out.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionMode(e.Mode), Ports: portsOut(e.Ports)}
	}
	return out
}

func containerSpecOut(c api.ContainerSpec) *swarm.ContainerSpec {
	out := &swarm.ContainerSpec{
		Image: c.Image, Labels: c.Labels, Command: c.Command, Args: c.Args, Hostname: c.Hostname,
		Env: c.Env, Dir: c.Dir, User: c.User, StopSignal: c.StopSignal, StopGracePeriod: durPtrOut(c.StopGracePeriod),
		Init: c.Init, ReadOnly: c.ReadOnly, CapabilityAdd: c.CapAdd, CapabilityDrop: c.CapDrop,
		Sysctls: c.Sysctls, Hosts: c.Hosts,
		// dockerd always says it, "default" being all shoal runs.
		Isolation: container.IsolationDefault,
	}
	if hc := c.Healthcheck; hc != nil {
		out.Healthcheck = &container.HealthConfig{Test: hc.Test, Interval: durOut(hc.Interval), Timeout: durOut(hc.Timeout),
			StartPeriod: durOut(hc.StartPeriod), StartInterval: durOut(hc.StartInterval)}
		if hc.Retries != nil {
			out.Healthcheck.Retries = int(*hc.Retries)
		}
	}
	if dc := c.DNSConfig; dc != nil {
		out.DNSConfig = &swarm.DNSConfig{Search: dc.Search, Options: dc.Options}
		for _, a := range dc.Nameservers {
			if ip, err := netip.ParseAddr(a); err == nil {
				out.DNSConfig.Nameservers = append(out.DNSConfig.Nameservers, ip)
			}
		}
	}
	for _, ul := range c.Ulimits {
		out.Ulimits = append(out.Ulimits, &container.Ulimit{Name: ul.Name, Soft: ul.Soft, Hard: ul.Hard})
	}
	for _, m := range c.Mounts {
		dm := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		if len(m.VolumeLabels) > 0 {
			dm.VolumeOptions = &mount.VolumeOptions{Labels: m.VolumeLabels}
		}
		if m.TmpfsSize != 0 || m.TmpfsMode != 0 {
			dm.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: m.TmpfsSize, Mode: os.FileMode(m.TmpfsMode)}
		}
		out.Mounts = append(out.Mounts, dm)
	}
	for _, r := range c.Configs {
		ref := &swarm.ConfigReference{ConfigName: r.ConfigName, ConfigID: r.ConfigID}
		if f := r.File; f != nil {
			ref.File = &swarm.ConfigReferenceFileTarget{Name: f.Name, UID: f.UID, GID: f.GID, Mode: os.FileMode(f.Mode)}
		}
		out.Configs = append(out.Configs, ref)
	}
	for _, r := range c.Secrets {
		ref := &swarm.SecretReference{SecretName: r.SecretName, SecretID: r.SecretID}
		if f := r.File; f != nil {
			ref.File = &swarm.SecretReferenceFileTarget{Name: f.Name, UID: f.UID, GID: f.GID, Mode: os.FileMode(f.Mode)}
		}
		out.Secrets = append(out.Secrets, ref)
	}
	return out
}

func modeOut(m api.ServiceMode) swarm.ServiceMode {
	switch {
	case m.Global != nil:
		return swarm.ServiceMode{Global: &swarm.GlobalService{}}
	case m.GlobalJob != nil:
		return swarm.ServiceMode{GlobalJob: &swarm.GlobalJob{}}
	case m.ReplicatedJob != nil:
		mc, tc := m.ReplicatedJob.Limits()
		return swarm.ServiceMode{ReplicatedJob: &swarm.ReplicatedJob{MaxConcurrent: &mc, TotalCompletions: &tc}}
	}
	n := m.Replicas()
	return swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
}

func updateConfigOut(c *api.UpdateConfig) *swarm.UpdateConfig {
	if c == nil {
		return nil
	}
	return &swarm.UpdateConfig{Parallelism: c.Parallelism, Delay: c.Delay.D(), FailureAction: swarm.FailureAction(c.FailureAction),
		Monitor: c.Monitor.D(), MaxFailureRatio: c.MaxFailureRatio, Order: swarm.UpdateOrder(c.Order)}
}

func portsOut(ps []api.PortConfig) []swarm.PortConfig {
	var out []swarm.PortConfig
	for _, p := range ps {
		out = append(out, swarm.PortConfig{Name: p.Name, Protocol: network.IPProtocol(p.Protocol), TargetPort: p.TargetPort,
			PublishedPort: p.PublishedPort, PublishMode: swarm.PortConfigPublishMode(p.PublishMode)})
	}
	return out
}

func durOut(d *api.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.D()
}

func durPtrOut(d *api.Duration) *time.Duration {
	if d == nil {
		return nil
	}
	v := d.D()
	return &v
}

// nonNil keeps Docker's "Labels": {} for an object without labels.
func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// unsupported collects the fields of a request shoal cannot honour.
type unsupported struct{ fields []string }

func (u *unsupported) set(cond bool, field string) {
	if cond {
		u.fields = append(u.fields, field)
	}
}

func (u *unsupported) err() error {
	if len(u.fields) == 0 {
		return nil
	}
	return badf("shoal does not support %s: remove %s from the spec", joinFields(u.fields), plural(len(u.fields), "it", "them"))
}
