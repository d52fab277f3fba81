package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	shellwords "github.com/mattn/go-shellwords"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// updateFlags are the flags of `service update`, as the docker CLI's.
type updateFlags struct {
	image              string
	args               string
	envAdd             []string
	envRm              []string
	replicas           uint64
	maxConcurrent      uint64
	labelAdd           []string
	labelRm            []string
	containerLabelAdd  []string
	containerLabelRm   []string
	constraintAdd      []string
	constraintRm       []string
	placementPrefAdd   []string
	placementPrefRm    []string
	maxPerNode         uint64
	publishAdd         []string
	publishRm          []string
	endpointMode       string
	secretAdd          []string
	secretRm           []string
	configAdd          []string
	configRm           []string
	health             healthFlags
	restartCondition   string
	restartDelay       time.Duration
	restartMaxAttempts uint64
	restartWindow      time.Duration
	update             updateConfigFlags
	rollbackConfig     updateConfigFlags
	stopGrace          time.Duration
	stopSignal         string
	user               string
	workdir            string
	hostname           string
	reserveCPU         string
	reserveMemory      string
	limitCPU           string
	limitMemory        string
	container          containerFlags
	force              bool
	rollback           bool
	detach             bool
	quiet              bool
}

func (f *updateFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.image, "image", "", "service image tag")
	fs.StringVar(&f.args, "args", "", "service command args, split like a shell does; for a process service, the arguments after its program")
	fs.StringArrayVar(&f.envAdd, "env-add", nil, "add or update an environment variable (KEY=VALUE)")
	fs.StringArrayVar(&f.envRm, "env-rm", nil, "remove an environment variable (KEY)")
	fs.Uint64Var(&f.replicas, "replicas", 0, "number of tasks (of a replicated job: the completions it needs)")
	fs.Uint64Var(&f.maxConcurrent, "max-concurrent", 0, "most tasks of a replicated job that run at once")
	fs.StringArrayVar(&f.labelAdd, "label-add", nil, "add or update a service label (KEY=VALUE)")
	fs.StringArrayVar(&f.labelRm, "label-rm", nil, "remove a service label by its key")
	fs.StringArrayVar(&f.containerLabelAdd, "container-label-add", nil, "add or update a task label (KEY=VALUE)")
	fs.StringArrayVar(&f.containerLabelRm, "container-label-rm", nil, "remove a task label by its key")
	fs.StringArrayVar(&f.constraintAdd, "constraint-add", nil, "add or update a placement constraint (node.labels.zone==a)")
	fs.StringArrayVar(&f.constraintRm, "constraint-rm", nil, "remove a placement constraint")
	fs.StringArrayVar(&f.placementPrefAdd, "placement-pref-add", nil, "add a placement preference (spread=node.labels.zone)")
	fs.StringArrayVar(&f.placementPrefRm, "placement-pref-rm", nil, "remove a placement preference")
	fs.Uint64Var(&f.maxPerNode, "replicas-max-per-node", 0, "most tasks of this service on one node (0 = no limit)")
	fs.StringArrayVar(&f.publishAdd, "publish-add", nil, "add a port: TARGET, PUBLISHED:TARGET or published=P,target=T,mode=host")
	fs.StringArrayVar(&f.publishRm, "publish-rm", nil, "remove a port by its target port (80, 80/udp) or PUBLISHED:TARGET")
	fs.StringVar(&f.endpointMode, "endpoint-mode", "", "endpoint mode: vip or dnsrr")
	fs.StringArrayVar(&f.secretAdd, "secret-add", nil, "add or update a secret: NAME or source=NAME,target=PATH,uid=U,gid=G,mode=0400")
	fs.StringArrayVar(&f.secretRm, "secret-rm", nil, "remove a secret by its name")
	fs.StringArrayVar(&f.configAdd, "config-add", nil, "add or update a config: NAME or source=NAME,target=PATH,uid=U,gid=G,mode=0444")
	fs.StringArrayVar(&f.configRm, "config-rm", nil, "remove a config by its name")
	f.health.add(fs)
	fs.StringVar(&f.restartCondition, "restart-condition", "", "restart when a task ends: any, on-failure or none")
	fs.DurationVar(&f.restartDelay, "restart-delay", 0, "wait between restart attempts")
	fs.Uint64Var(&f.restartMaxAttempts, "restart-max-attempts", 0, "restarts before giving up (0 = unlimited)")
	fs.DurationVar(&f.restartWindow, "restart-window", 0, "window in which restarts are counted")
	f.update.add(fs, "update")
	f.rollbackConfig.add(fs, "rollback")
	fs.DurationVar(&f.stopGrace, "stop-grace-period", 0, "time to wait for a task to stop before killing it")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "signal that stops a task")
	fs.StringVarP(&f.user, "user", "u", "", "user the task runs as (name or uid[:gid])")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory of the task")
	fs.StringVar(&f.hostname, "hostname", "", "hostname of containers")
	fs.StringVar(&f.reserveCPU, "reserve-cpu", "", "CPUs reserved per task")
	fs.StringVar(&f.reserveMemory, "reserve-memory", "", "memory reserved per task")
	fs.StringVar(&f.limitCPU, "limit-cpu", "", "CPU limit per task")
	fs.StringVar(&f.limitMemory, "limit-memory", "", "memory limit per task")
	f.container.add(fs, true)
	fs.BoolVar(&f.force, "force", false, "replace every task even if nothing changed")
	fs.BoolVar(&f.rollback, "rollback", false, "roll back to the previous spec")
	fs.BoolVarP(&f.detach, "detach", "d", false, "return at once instead of waiting for the service to converge")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "suppress progress output")
}

func newServiceUpdateCmd(a *app) *cobra.Command {
	cmd, _ := newUpdateCmd(a)
	return cmd
}

// newUpdateCmd returns the update command and the flags it parses into.
func newUpdateCmd(a *app) (*cobra.Command, *updateFlags) {
	f := &updateFlags{}
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] SERVICE",
		Short: "Update a service",
		Long: `Update a service: each flag changes the service's current spec, and the
tasks are replaced as its update config says (--update-*). Without --detach
the command follows the rolling update and fails if it pauses or rolls back.

--args replaces an image service's arguments (its Args). A process service
(created with "-- PROGRAM [ARG...]") keeps its whole command line in Command:
--args keeps the program and replaces the arguments after it.`,
		Example: `  shoal service update --image myapi:1.1 --update-parallelism 2 --update-delay 10s api
  shoal service update --env-add LOG_LEVEL=debug --env-rm OLD web
  shoal service update --force web
  shoal service update --rollback web`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runServiceUpdate(cmd, f, args[0])
		},
	}
	f.add(cmd.Flags())
	return cmd, f
}

// maxUpdateAttempts bounds the retries of an update that lost a race with
// another writer of the service (the updater writes its status too).
const maxUpdateAttempts = 5

func (a *app) runServiceUpdate(cmd *cobra.Command, f *updateFlags, ref string) error {
	if f.rollback {
		var other []string
		cmd.Flags().Visit(func(fl *pflag.Flag) {
			switch fl.Name {
			case "rollback", "detach", "quiet", "host":
			default:
				other = append(other, "--"+fl.Name)
			}
		})
		if len(other) > 0 {
			return usagef(cmd, "other flags may not be combined with --rollback: %s", strings.Join(other, ", "))
		}
	} else {
		// Mistakes in the flags themselves are usage errors, found before
		// the cluster is asked anything.
		probe := api.ServiceSpec{Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}}}
		probe.TaskTemplate.ContainerSpec.Image = "probe"
		if _, err := f.apply(cmd, probe); err != nil {
			return err
		}
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	if f.rollback {
		return a.rollbackService(cmd, c, ref, 0, f.detach, f.quiet)
	}
	ctx := cmd.Context()
	var before, after *api.Service
	for attempt := 1; ; attempt++ {
		svc, err := c.ServiceInspect(ctx, ref)
		if err != nil {
			return noSuch("service", ref, err)
		}
		spec, err := f.apply(cmd, svc.Spec)
		if err != nil {
			return err
		}
		if api.SameJSON(spec, svc.Spec) && !svc.UpdatePaused() {
			// Nothing to change: as docker prints the name and is done.
			// (A paused update is sent on: any update resumes it.)
			fmt.Fprintln(a.stdout, ref)
			return nil
		}
		updated, err := c.ServiceUpdate(ctx, svc.ID, svc.Version, spec)
		if client.IsConflict(err) && attempt < maxUpdateAttempts {
			continue // changed meanwhile: apply the flags to the new spec
		}
		if err != nil {
			return err
		}
		before, after = svc, updated
		break
	}
	fmt.Fprintln(a.stdout, ref)
	if f.detach {
		return nil
	}
	return a.followServices(ctx, c, []followTarget{followTargetOf(before, after)}, f.quiet)
}

// cloneSpec returns a deep copy of s, made through its JSON form as the
// API carries it.
func cloneSpec(s api.ServiceSpec) (api.ServiceSpec, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return s, err
	}
	var out api.ServiceSpec
	err = json.Unmarshal(b, &out)
	return out, err
}

// envKey is the name of a KEY=VALUE environment entry.
func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

// apply returns in changed by the flags given. It does not touch in.
func (f *updateFlags) apply(cmd *cobra.Command, in api.ServiceSpec) (api.ServiceSpec, error) {
	fs := cmd.Flags()
	changed := fs.Changed
	spec, err := cloneSpec(in)
	if err != nil {
		return in, err
	}
	tt := &spec.TaskTemplate
	c := &tt.ContainerSpec

	if changed("image") {
		if strings.TrimSpace(f.image) == "" {
			return in, usagef(cmd, "invalid --image: the image must not be empty")
		}
		if c.Image == "" {
			return in, usagef(cmd, "invalid --image: service %s runs a program, not an image; create a new service to run an image", spec.Name)
		}
		c.Image = f.image
	}
	if changed("args") {
		words, err := shellwords.Parse(f.args)
		if err != nil {
			return in, usagef(cmd, "invalid --args %q: %v", f.args, err)
		}
		if c.Image == "" && len(c.Args) == 0 && len(c.Command) > 0 {
			// A process service's Command is its whole command line:
			// keep the program, replace its arguments.
			c.Command = append([]string{c.Command[0]}, words...)
		} else {
			c.Args = words
		}
	}

	if changed("env-rm") || changed("env-add") {
		// As docker: removals first, then additions.
		drop := map[string]bool{}
		for _, k := range f.envRm {
			drop[envKey(k)] = true
		}
		var env []string
		for _, kv := range c.Env {
			if !drop[envKey(kv)] {
				env = append(env, kv)
			}
		}
		for _, kv := range f.envAdd {
			k := envKey(kv)
			if strings.TrimSpace(k) == "" {
				return in, usagef(cmd, "invalid --env-add %q: want KEY=VALUE", kv)
			}
			if i := slices.IndexFunc(env, func(e string) bool { return envKey(e) == k }); i >= 0 {
				env[i] = kv
			} else {
				env = append(env, kv)
			}
		}
		c.Env = env
	}

	if changed("replicas") {
		switch {
		case spec.Mode.IsGlobal():
			return in, usagef(cmd, "--replicas can only be used with replicated mode")
		case spec.Mode.ReplicatedJob != nil:
			// A replicated job's --replicas is its total completions, as docker's.
			j := *spec.Mode.ReplicatedJob
			j.TotalCompletions = f.replicas
			spec.Mode = api.ServiceMode{ReplicatedJob: &j}
		default:
			spec.Mode = api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: f.replicas}}
		}
	}
	if changed("max-concurrent") {
		if spec.Mode.ReplicatedJob == nil {
			return in, usagef(cmd, "--max-concurrent can only be used with a replicated job")
		}
		if f.maxConcurrent == 0 {
			return in, usagef(cmd, "--max-concurrent 0 would never run the job: give at least 1")
		}
		j := *spec.Mode.ReplicatedJob
		j.MaxConcurrent = f.maxConcurrent
		spec.Mode = api.ServiceMode{ReplicatedJob: &j}
	}

	// Labels, as docker: additions first, then removals.
	for _, l := range []struct {
		add, rm string
		adds    []string
		rms     []string
		dst     *map[string]string
	}{
		{"label-add", "label-rm", f.labelAdd, f.labelRm, &spec.Labels},
		{"container-label-add", "container-label-rm", f.containerLabelAdd, f.containerLabelRm, &c.Labels},
	} {
		if !changed(l.add) && !changed(l.rm) {
			continue
		}
		adds, err := parseLabels(l.add, l.adds)
		if err != nil {
			return in, usagef(cmd, "%v", err)
		}
		m := map[string]string{}
		for k, v := range *l.dst {
			m[k] = v
		}
		for k, v := range adds {
			m[k] = v
		}
		for _, k := range l.rms {
			delete(m, envKey(k))
		}
		*l.dst = m
		if len(m) == 0 {
			*l.dst = nil
		}
	}

	if changed("constraint-add") || changed("constraint-rm") || changed("placement-pref-add") || changed("placement-pref-rm") || changed("replicas-max-per-node") {
		p := tt.Placement
		if p == nil {
			p = &api.Placement{}
		}
		// Constraints, as docker: additions first, then removals.
		norm := func(s string) string { return strings.Join(strings.Fields(s), "") }
		for _, s := range f.constraintAdd {
			if _, err := api.ParseConstraint(s); err != nil {
				return in, usagef(cmd, "invalid --constraint-add %q: %v", s, err)
			}
			if !slices.ContainsFunc(p.Constraints, func(x string) bool { return norm(x) == norm(s) }) {
				p.Constraints = append(p.Constraints, s)
			}
		}
		for _, s := range f.constraintRm {
			p.Constraints = slices.DeleteFunc(p.Constraints, func(x string) bool { return norm(x) == norm(s) })
		}
		// Preferences, as docker: removals first, then additions.
		for _, s := range f.placementPrefRm {
			v := strings.TrimPrefix(strings.TrimSpace(s), "spread=")
			p.Preferences = slices.DeleteFunc(p.Preferences, func(x api.PlacementPreference) bool { return x.Spread == v })
		}
		for _, s := range f.placementPrefAdd {
			k, v, ok := strings.Cut(s, "=")
			if !ok || k != "spread" || v == "" {
				return in, usagef(cmd, "invalid --placement-pref-add %q: want spread=node.labels.KEY", s)
			}
			if !slices.Contains(p.Preferences, api.PlacementPreference{Spread: v}) {
				p.Preferences = append(p.Preferences, api.PlacementPreference{Spread: v})
			}
		}
		if changed("replicas-max-per-node") {
			p.MaxReplicas = f.maxPerNode
		}
		tt.Placement = p
		if len(p.Constraints) == 0 && len(p.Preferences) == 0 && p.MaxReplicas == 0 {
			tt.Placement = nil
		}
	}

	if changed("publish-rm") || changed("publish-add") {
		// As docker: removals first, then additions.
		var ports []api.PortConfig
		if spec.EndpointSpec != nil {
			ports = spec.EndpointSpec.Ports
		}
		for _, s := range f.publishRm {
			rm, err := parsePort("publish-rm", s)
			if err != nil {
				return in, usagef(cmd, "%v", err)
			}
			ports = slices.DeleteFunc(ports, func(p api.PortConfig) bool { return portMatches(p, rm) })
		}
		for _, s := range f.publishAdd {
			add, err := parsePort("publish-add", s)
			if err != nil {
				return in, usagef(cmd, "%v", err)
			}
			if !slices.ContainsFunc(ports, func(p api.PortConfig) bool { return samePort(p, add) }) {
				ports = append(ports, add)
			}
		}
		if spec.EndpointSpec == nil {
			spec.EndpointSpec = &api.EndpointSpec{}
		}
		spec.EndpointSpec.Ports = ports
		if len(ports) == 0 && spec.EndpointSpec.Mode == "" {
			spec.EndpointSpec = nil
		}
	}
	if changed("endpoint-mode") {
		if f.endpointMode != api.EndpointModeVIP && f.endpointMode != api.EndpointModeDNSRR {
			return in, usagef(cmd, "invalid --endpoint-mode %q: want vip or dnsrr", f.endpointMode)
		}
		ep := api.EndpointSpec{}
		if spec.EndpointSpec != nil {
			ep = *spec.EndpointSpec
		}
		ep.Mode = f.endpointMode
		spec.EndpointSpec = &ep
	}

	if changed("secret-add") || changed("secret-rm") {
		add, err := secretRefs("secret-add", f.secretAdd)
		if err != nil {
			return in, usagef(cmd, "%v", err)
		}
		if c.Secrets, err = mergeSecrets("secret-add", c.Secrets, f.secretRm, add); err != nil {
			return in, usagef(cmd, "%v", err)
		}
	}
	if changed("config-add") || changed("config-rm") {
		add, err := configRefs("config-add", f.configAdd)
		if err != nil {
			return in, usagef(cmd, "%v", err)
		}
		if c.Configs, err = mergeConfigs("config-add", c.Configs, f.configRm, add); err != nil {
			return in, usagef(cmd, "%v", err)
		}
	}

	if f.health.changed(fs) {
		if c.Healthcheck, err = f.health.apply(cmd, c.Healthcheck); err != nil {
			return in, err
		}
	}

	if changed("restart-condition") || changed("restart-delay") || changed("restart-max-attempts") || changed("restart-window") {
		rp := tt.RestartPolicy
		if rp == nil {
			rp = &api.RestartPolicy{}
		}
		if changed("restart-condition") {
			switch f.restartCondition {
			case api.RestartConditionAny, api.RestartConditionOnFailure, api.RestartConditionNone:
			default:
				return in, usagef(cmd, "invalid --restart-condition %q: want any, on-failure or none", f.restartCondition)
			}
			rp.Condition = f.restartCondition
		}
		for _, d := range []struct {
			flag string
			v    time.Duration
			dst  **api.Duration
		}{{"restart-delay", f.restartDelay, &rp.Delay}, {"restart-window", f.restartWindow, &rp.Window}} {
			if changed(d.flag) {
				if d.v < 0 {
					return in, usagef(cmd, "invalid --%s %s: must not be negative", d.flag, d.v)
				}
				*d.dst = api.DurationPtr(d.v)
			}
		}
		if changed("restart-max-attempts") {
			n := f.restartMaxAttempts
			rp.MaxAttempts = &n
		}
		tt.RestartPolicy = rp
	}

	if spec.UpdateConfig, err = f.update.apply(cmd, spec.UpdateConfig); err != nil {
		return in, err
	}
	if spec.RollbackConfig, err = f.rollbackConfig.apply(cmd, spec.RollbackConfig); err != nil {
		return in, err
	}

	if changed("stop-grace-period") {
		if f.stopGrace < 0 {
			return in, usagef(cmd, "invalid --stop-grace-period %s: must not be negative", f.stopGrace)
		}
		c.StopGracePeriod = api.DurationPtr(f.stopGrace)
	}
	if changed("stop-signal") {
		c.StopSignal = f.stopSignal
	}
	if changed("user") {
		c.User = f.user
	}
	if changed("workdir") {
		c.Dir = f.workdir
	}
	if changed("hostname") {
		c.Hostname = f.hostname
	}

	if changed("reserve-cpu") || changed("reserve-memory") || changed("limit-cpu") || changed("limit-memory") {
		res := tt.Resources
		if res == nil {
			res = &api.ResourceRequirements{}
		}
		for _, r := range []struct {
			flag, val string
			dst       **api.Resources
			cpu       bool
		}{
			{"reserve-cpu", f.reserveCPU, &res.Reservations, true},
			{"reserve-memory", f.reserveMemory, &res.Reservations, false},
			{"limit-cpu", f.limitCPU, &res.Limits, true},
			{"limit-memory", f.limitMemory, &res.Limits, false},
		} {
			if !changed(r.flag) {
				continue
			}
			if *r.dst == nil {
				*r.dst = &api.Resources{}
			}
			if r.cpu {
				n, err := parseCPUs(r.flag, r.val)
				if err != nil {
					return in, usagef(cmd, "%v", err)
				}
				(*r.dst).NanoCPUs = n
			} else {
				n, err := parseBytes(r.flag, r.val)
				if err != nil {
					return in, usagef(cmd, "%v", err)
				}
				(*r.dst).MemoryBytes = n
			}
		}
		if res.Limits != nil && *res.Limits == (api.Resources{}) {
			res.Limits = nil
		}
		if res.Reservations != nil && *res.Reservations == (api.Resources{}) {
			res.Reservations = nil
		}
		tt.Resources = res
		if res.Limits == nil && res.Reservations == nil {
			tt.Resources = nil
		}
	}

	if err := f.container.apply(cmd, &spec); err != nil {
		return in, err
	}
	if f.force {
		tt.ForceUpdate++
	}
	return spec, nil
}

func protocolOf(p api.PortConfig) string {
	if p.Protocol == "" {
		return "tcp"
	}
	return p.Protocol
}

func publishModeOf(p api.PortConfig) string {
	if p.PublishMode == "" {
		return "ingress"
	}
	return p.PublishMode
}

// portMatches reports whether --publish-rm's rm names port p: the same
// target port and protocol, and the same published port and mode if rm
// gives them.
func portMatches(p, rm api.PortConfig) bool {
	return p.TargetPort == rm.TargetPort && protocolOf(p) == protocolOf(rm) &&
		(rm.PublishedPort == 0 || rm.PublishedPort == p.PublishedPort) &&
		(rm.PublishMode == "" || publishModeOf(p) == publishModeOf(rm))
}

// samePort reports whether a and b are the same port.
func samePort(a, b api.PortConfig) bool {
	return a.TargetPort == b.TargetPort && a.PublishedPort == b.PublishedPort &&
		protocolOf(a) == protocolOf(b) && publishModeOf(a) == publishModeOf(b) && a.Name == b.Name
}
