package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/shoalproject/shoal/api"
)

// serviceFlags are the flags service create shares with the docker CLI.
type serviceFlags struct {
	name               string
	mode               string
	replicas           uint64
	maxConcurrent      uint64
	totalCompletions   uint64
	env                []string
	labels             []string
	containerLabels    []string
	restartCondition   string
	restartDelay       time.Duration
	restartMaxAttempts uint64
	restartWindow      time.Duration
	workdir            string
	user               string
	hostname           string
	entrypoint         string
	stopSignal         string
	stopGrace          time.Duration
	constraints        []string
	placementPrefs     []string
	maxPerNode         uint64
	publish            []string
	endpointMode       string
	networks           []string
	mounts             []string
	reserveCPU         string
	reserveMemory      string
	limitCPU           string
	limitMemory        string
	health             healthFlags
	secrets            []string
	configs            []string
	update             updateConfigFlags
	rollback           updateConfigFlags
	container          containerFlags
}

// healthFlags are the docker CLI's --health-* flags.
type healthFlags struct {
	cmd           string
	interval      time.Duration
	timeout       time.Duration
	retries       uint64
	startPeriod   time.Duration
	startInterval time.Duration
	none          bool
}

func (h *healthFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&h.cmd, "health-cmd", "", "command to check health (run with /bin/sh -c)")
	fs.DurationVar(&h.interval, "health-interval", 0, "time between checks (default 30s)")
	fs.DurationVar(&h.timeout, "health-timeout", 0, "longest a check may run (default 30s)")
	fs.Uint64Var(&h.retries, "health-retries", 0, "failures in a row that make a task unhealthy (default 3)")
	fs.DurationVar(&h.startPeriod, "health-start-period", 0, "time for the task to start before failures count (default 0s)")
	fs.DurationVar(&h.startInterval, "health-start-interval", 0, "time between checks during the start period (default 5s)")
	fs.BoolVar(&h.none, "no-healthcheck", false, "disable any health check, including the image's")
}

// changed reports whether any health flag was given.
func (h *healthFlags) changed(fs *pflag.FlagSet) bool {
	for _, f := range []string{"health-cmd", "health-interval", "health-timeout", "health-retries", "health-start-period", "health-start-interval", "no-healthcheck"} {
		if fs.Changed(f) {
			return true
		}
	}
	return false
}

// apply sets the flags given on top of hc (which may be nil) and returns
// the result.
func (h *healthFlags) apply(cmd *cobra.Command, hc *api.HealthCheck) (*api.HealthCheck, error) {
	fs := cmd.Flags()
	if h.none {
		if h.changed(fs) && (fs.Changed("health-cmd") || fs.Changed("health-interval") || fs.Changed("health-timeout") || fs.Changed("health-retries") || fs.Changed("health-start-period") || fs.Changed("health-start-interval")) {
			return nil, usagef(cmd, "--no-healthcheck conflicts with the --health-* options")
		}
		return &api.HealthCheck{Test: []string{"NONE"}}, nil
	}
	out := &api.HealthCheck{}
	if hc != nil {
		*out = *hc
	}
	if fs.Changed("health-cmd") {
		if h.cmd == "" {
			out.Test = nil
		} else {
			out.Test = []string{"CMD-SHELL", h.cmd}
		}
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
		dst  **api.Duration
	}{
		{"health-interval", h.interval, &out.Interval},
		{"health-timeout", h.timeout, &out.Timeout},
		{"health-start-period", h.startPeriod, &out.StartPeriod},
		{"health-start-interval", h.startInterval, &out.StartInterval},
	} {
		if fs.Changed(d.flag) {
			if d.v < 0 {
				return nil, usagef(cmd, "--%s must not be negative", d.flag)
			}
			*d.dst = api.DurationPtr(d.v)
		}
	}
	if fs.Changed("health-retries") {
		n := h.retries
		out.Retries = &n
	}
	return out, nil
}

func (f *serviceFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "service name")
	fs.StringVar(&f.mode, "mode", "replicated", "service mode: replicated, global, replicated-job or global-job")
	fs.Uint64Var(&f.replicas, "replicas", 1, "number of tasks (of a replicated job: the completions it needs)")
	fs.Uint64Var(&f.maxConcurrent, "max-concurrent", 0, "most tasks of a replicated job that run at once (default the completions it needs)")
	fs.Uint64Var(&f.totalCompletions, "total-completions", 0, "tasks of a replicated job that must exit 0 (default --replicas)")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "service label (KEY=VALUE); routing labels go here")
	fs.StringArrayVar(&f.containerLabels, "container-label", nil, "label on each task (KEY=VALUE)")
	fs.StringVar(&f.restartCondition, "restart-condition", "", "restart when a task ends: any, on-failure or none (default any)")
	fs.DurationVar(&f.restartDelay, "restart-delay", 0, "wait between restart attempts (default 5s)")
	fs.Uint64Var(&f.restartMaxAttempts, "restart-max-attempts", 0, "restarts before giving up (default unlimited)")
	fs.DurationVar(&f.restartWindow, "restart-window", 0, "window in which restarts are counted (default unbounded)")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory of the task")
	fs.StringVarP(&f.user, "user", "u", "", "user the task runs as (name or uid[:gid])")
	fs.StringVar(&f.hostname, "hostname", "", "hostname of containers")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "override the image's entrypoint")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "signal that stops a task (default SIGTERM)")
	fs.DurationVar(&f.stopGrace, "stop-grace-period", 0, "time to wait for a task to stop before killing it (default 10s)")
	fs.StringArrayVar(&f.constraints, "constraint", nil, "placement constraint (node.labels.zone==a)")
	fs.StringArrayVar(&f.placementPrefs, "placement-pref", nil, "placement preference (spread=node.labels.zone)")
	fs.Uint64Var(&f.maxPerNode, "replicas-max-per-node", 0, "most tasks of this service on one node (default no limit)")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "port of the tasks: TARGET, PUBLISHED:TARGET or published=P,target=T,mode=host")
	fs.StringVar(&f.endpointMode, "endpoint-mode", "", "endpoint mode: vip (a virtual IP on each network, the default) or dnsrr (the name resolves to the tasks' addresses)")
	fs.StringArrayVar(&f.networks, "network", nil, "attach the tasks to a network (NAME or ID)")
	fs.StringArrayVar(&f.mounts, "mount", nil, "attach a mount: type=volume|bind|tmpfs,source=SRC,target=DST[,readonly][,volume-label=K=V][,tmpfs-size=BYTES][,tmpfs-mode=0700]")
	fs.StringVar(&f.reserveCPU, "reserve-cpu", "", "CPUs reserved per task")
	fs.StringVar(&f.reserveMemory, "reserve-memory", "", "memory reserved per task")
	fs.StringVar(&f.limitCPU, "limit-cpu", "", "CPU limit per task")
	fs.StringVar(&f.limitMemory, "limit-memory", "", "memory limit per task")
	f.health.add(fs)
	fs.StringArrayVar(&f.secrets, "secret", nil, "give tasks a secret: NAME or source=NAME,target=PATH,uid=U,gid=G,mode=0400 (target defaults to /run/secrets/NAME)")
	fs.StringArrayVar(&f.configs, "config", nil, "give tasks a config: NAME or source=NAME,target=PATH,uid=U,gid=G,mode=0444 (target defaults to /NAME)")
	f.update.add(fs, "update")
	f.rollback.add(fs, "rollback")
	f.container.add(fs, false)
}

// spec builds the service spec from the flags and positional arguments:
// "IMAGE [COMMAND] [ARG...]", or "-- PROGRAM [ARG...]" for a process task.
func (f *serviceFlags) spec(cmd *cobra.Command, args []string) (api.ServiceSpec, error) {
	fs := cmd.Flags()
	s := api.ServiceSpec{Name: f.name}
	c := &s.TaskTemplate.ContainerSpec
	if cmd.ArgsLenAtDash() == 0 {
		c.Command = args
	} else {
		c.Image = args[0]
		c.Args = args[1:]
		if f.entrypoint != "" {
			c.Command = strings.Fields(f.entrypoint)
		}
	}
	var err error
	if s.Mode, err = f.serviceMode(fs); err != nil {
		return s, usagef(cmd, "%v", err)
	}
	if s.Labels, err = parseLabels("label", f.labels); err != nil {
		return s, usagef(cmd, "%v", err)
	}
	if c.Labels, err = parseLabels("container-label", f.containerLabels); err != nil {
		return s, usagef(cmd, "%v", err)
	}
	c.Env = f.env
	c.Dir, c.User, c.Hostname, c.StopSignal = f.workdir, f.user, f.hostname, f.stopSignal
	if fs.Changed("stop-grace-period") {
		c.StopGracePeriod = api.DurationPtr(f.stopGrace)
	}
	if fs.Changed("restart-condition") || fs.Changed("restart-delay") || fs.Changed("restart-max-attempts") || fs.Changed("restart-window") {
		rp := &api.RestartPolicy{Condition: f.restartCondition}
		if fs.Changed("restart-delay") {
			rp.Delay = api.DurationPtr(f.restartDelay)
		}
		if fs.Changed("restart-max-attempts") {
			n := f.restartMaxAttempts
			rp.MaxAttempts = &n
		}
		if fs.Changed("restart-window") {
			rp.Window = api.DurationPtr(f.restartWindow)
		}
		s.TaskTemplate.RestartPolicy = rp
	}
	if len(f.constraints) > 0 || len(f.placementPrefs) > 0 || f.maxPerNode > 0 {
		p := &api.Placement{Constraints: f.constraints, MaxReplicas: f.maxPerNode}
		for _, pref := range f.placementPrefs {
			k, v, ok := strings.Cut(pref, "=")
			if !ok || k != "spread" || v == "" {
				return s, usagef(cmd, "invalid --placement-pref %q: want spread=node.labels.KEY", pref)
			}
			p.Preferences = append(p.Preferences, api.PlacementPreference{Spread: v})
		}
		s.TaskTemplate.Placement = p
	}
	for _, m := range f.mounts {
		mt, err := parseMount(m)
		if err != nil {
			return s, usagef(cmd, "%v", err)
		}
		c.Mounts = append(c.Mounts, mt)
	}
	for _, p := range f.publish {
		pc, err := parsePublish(p)
		if err != nil {
			return s, usagef(cmd, "%v", err)
		}
		if s.EndpointSpec == nil {
			s.EndpointSpec = &api.EndpointSpec{}
		}
		s.EndpointSpec.Ports = append(s.EndpointSpec.Ports, pc)
	}
	if f.endpointMode != "" {
		if f.endpointMode != api.EndpointModeVIP && f.endpointMode != api.EndpointModeDNSRR {
			return s, usagef(cmd, "invalid --endpoint-mode %q: want vip or dnsrr", f.endpointMode)
		}
		if s.EndpointSpec == nil {
			s.EndpointSpec = &api.EndpointSpec{}
		}
		s.EndpointSpec.Mode = f.endpointMode
	}
	for _, n := range f.networks {
		if n == "" {
			return s, usagef(cmd, "invalid --network: empty network name")
		}
		s.TaskTemplate.Networks = append(s.TaskTemplate.Networks, api.NetworkAttachment{Target: n})
	}
	res := &api.ResourceRequirements{}
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
		if r.val == "" {
			continue
		}
		if *r.dst == nil {
			*r.dst = &api.Resources{}
		}
		if r.cpu {
			n, err := parseCPUs(r.flag, r.val)
			if err != nil {
				return s, usagef(cmd, "%v", err)
			}
			(*r.dst).NanoCPUs = n
		} else {
			n, err := parseBytes(r.flag, r.val)
			if err != nil {
				return s, usagef(cmd, "%v", err)
			}
			(*r.dst).MemoryBytes = n
		}
	}
	if res.Limits != nil || res.Reservations != nil {
		s.TaskTemplate.Resources = res
	}
	if f.health.changed(fs) {
		if c.Healthcheck, err = f.health.apply(cmd, nil); err != nil {
			return s, err
		}
	}
	if c.Secrets, err = secretRefs("secret", f.secrets); err != nil {
		return s, usagef(cmd, "%v", err)
	}
	if c.Secrets, err = mergeSecrets("secret", nil, nil, c.Secrets); err != nil {
		return s, usagef(cmd, "%v", err)
	}
	if c.Configs, err = configRefs("config", f.configs); err != nil {
		return s, usagef(cmd, "%v", err)
	}
	if c.Configs, err = mergeConfigs("config", nil, nil, c.Configs); err != nil {
		return s, usagef(cmd, "%v", err)
	}
	if s.UpdateConfig, err = f.update.apply(cmd, nil); err != nil {
		return s, err
	}
	if s.RollbackConfig, err = f.rollback.apply(cmd, nil); err != nil {
		return s, err
	}
	if err := f.container.apply(cmd, &s); err != nil {
		return s, err
	}
	return s, nil
}

func newServiceCreateCmd(a *app) *cobra.Command {
	var f serviceFlags
	var detach, quiet bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...] | create [OPTIONS] -- PROGRAM [ARG...]",
		Short: "Create a service",
		Long: `Create a service. With an IMAGE its tasks run as containers (docker runtime);
after "--", PROGRAM and its arguments run as host processes (process runtime).`,
		Example: `  shoal service create --name web --replicas 3 -- /usr/bin/python3 -m http.server
  shoal service create --name api -p 80 --label traefik.http.routers.api.rule='PathPrefix(` + "`/api/`" + `)' myapi:1.0`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.spec(cmd, args)
			if err != nil {
				return err
			}
			if spec.Name == "" {
				return usagef(cmd, "--name is required: every service needs a name")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			svc, err := c.ServiceCreate(cmd.Context(), spec)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, svc.ID)
			if detach {
				return nil
			}
			return a.waitConverged(cmd.Context(), c, svc, quiet)
		},
	}
	// As docker's: flags end at the image, so "IMAGE sh -c CMD" passes -c
	// to the container ("--" still starts a process service's PROGRAM).
	cmd.Flags().SetInterspersed(false)
	f.add(cmd.Flags())
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return at once instead of waiting for the service to converge")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress progress output")
	return cmd
}
