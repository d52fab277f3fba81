package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/cli/format"
)

// writePretty prints services the way `docker service inspect --pretty`
// does: a short human summary of each, separated by blank lines.
func writePretty(w io.Writer, svcs []*api.Service, now time.Time) error {
	for i, s := range svcs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := prettyService(w, s, now); err != nil {
			return err
		}
	}
	return nil
}

func prettyService(out io.Writer, s *api.Service, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 0, 4, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	spec := s.Spec
	p("ID:\t%s", s.ID)
	p("Name:\t%s", spec.Name)
	if len(spec.Labels) > 0 {
		p("Labels:")
		for _, k := range sortedKeys(spec.Labels) {
			if v := spec.Labels[k]; v != "" {
				p(" %s=%s", k, v)
			} else {
				p(" %s", k)
			}
		}
	}
	switch m := spec.Mode; {
	case m.ReplicatedJob != nil:
		concurrent, total := m.ReplicatedJob.Limits()
		p("Service Mode:\tReplicated Job")
		p(" Max Concurrent:\t%d", concurrent)
		p(" Total Completions:\t%d", total)
	case m.GlobalJob != nil:
		p("Service Mode:\tGlobal Job")
	case m.IsGlobal():
		p("Service Mode:\tGlobal")
	default:
		p("Service Mode:\tReplicated")
		p(" Replicas:\t%d", m.Replicas())
	}
	p("Revision:\t%d (spec version %d)", s.Revision, s.SpecVersion)
	if us := s.UpdateStatus; us != nil {
		p("UpdateStatus:")
		p(" State:\t%s", us.State)
		if us.StartedAt != nil {
			p(" Started:\t%s", format.Ago(*us.StartedAt, now))
		}
		if us.CompletedAt != nil {
			p(" Completed:\t%s", format.Ago(*us.CompletedAt, now))
		}
		p(" Message:\t%s", us.Message)
	}
	// Placement, the update and rollback configs and Resources are always
	// shown, defaults filled in, as docker's.
	p("Placement:")
	if pl := spec.TaskTemplate.Placement; pl != nil {
		if len(pl.Constraints) > 0 {
			p(" Constraints:\t%s", strings.Join(pl.Constraints, ", "))
		}
		if len(pl.Preferences) > 0 {
			var prefs []string
			for _, pr := range pl.Preferences {
				prefs = append(prefs, "spread="+pr.Spread)
			}
			p(" Preferences:\t%s", strings.Join(prefs, ", "))
		}
		if pl.MaxReplicas > 0 {
			p(" Max Replicas Per Node:\t%d", pl.MaxReplicas)
		}
	}
	for _, u := range []struct {
		name, order string
		cfg         *api.UpdateConfig
	}{{"UpdateConfig", "Update order", spec.UpdateConfig}, {"RollbackConfig", "Rollback order", spec.RollbackConfig}} {
		if u.cfg == nil {
			u.cfg = &api.UpdateConfig{Parallelism: api.DefaultUpdateParallel}
		}
		p("%s:", u.name)
		p(" Parallelism:\t%d", u.cfg.Parallelism)
		if u.cfg.Delay > 0 {
			p(" Delay:\t%s", u.cfg.Delay)
		}
		p(" On failure:\t%s", orDefault(u.cfg.FailureAction, api.FailureActionPause))
		monitor := api.DefaultUpdateMonitor
		if u.cfg.Monitor > 0 {
			monitor = u.cfg.Monitor.D()
		}
		p(" Monitoring Period:\t%s", monitor)
		p(" Max failure ratio:\t%g", u.cfg.MaxFailureRatio)
		p(" %s:\t%s", u.order, orDefault(u.cfg.Order, api.UpdateOrderStopFirst))
	}
	c := spec.TaskTemplate.ContainerSpec
	p("ContainerSpec:")
	if c.Image != "" {
		p(" Image:\t%s", c.Image)
		if len(c.Command) > 0 {
			p(" Command:\t%s", strings.Join(c.Command, " "))
		}
		if len(c.Args) > 0 {
			p(" Args:\t%s", strings.Join(c.Args, " "))
		}
		p(" Init:\t%t", c.Init != nil && *c.Init)
	} else {
		p(" Command:\t%s", strings.Join(c.Argv(), " "))
	}
	if len(c.Env) > 0 {
		p(" Env:\t%s", strings.Join(c.Env, " "))
	}
	if c.Dir != "" {
		p(" Dir:\t%s", c.Dir)
	}
	if c.User != "" {
		p(" User:\t%s", c.User)
	}
	if hc := c.Healthcheck; hc != nil && len(hc.Test) > 0 {
		p(" Healthcheck:\t%s", strings.Join(hc.Test, " "))
	}
	for _, r := range c.Secrets {
		p(" Secret:\t%s -> %s", r.SecretName, refTarget(r.File))
	}
	for _, r := range c.Configs {
		p(" Config:\t%s -> %s", r.ConfigName, refTarget(r.File))
	}
	if len(c.Mounts) > 0 {
		p("Mounts:")
	}
	for _, m := range c.Mounts {
		p(" Target:\t%s", m.Target)
		p("  Source:\t%s", m.Source)
		p("  ReadOnly:\t%t", m.ReadOnly)
		p("  Type:\t%s", m.Type)
	}
	p("Resources:")
	if res := spec.TaskTemplate.Resources; res != nil {
		for _, r := range []struct {
			name string
			v    *api.Resources
		}{{"Reservations", res.Reservations}, {"Limits", res.Limits}} {
			if r.v == nil {
				continue
			}
			p(" %s:", r.name)
			if r.v.NanoCPUs > 0 {
				p("  CPU:\t%g", float64(r.v.NanoCPUs)/1e9)
			}
			if r.v.MemoryBytes > 0 {
				p("  Memory:\t%s", units.BytesSize(float64(r.v.MemoryBytes)))
			}
		}
	}
	p("Endpoint Mode:\t%s", spec.EndpointSpec.EndpointMode())
	ports := []api.PortConfig(nil)
	if spec.EndpointSpec != nil {
		ports = spec.EndpointSpec.Ports
	}
	if s.Endpoint != nil {
		if len(s.Endpoint.Ports) > 0 {
			ports = s.Endpoint.Ports
		}
		if len(s.Endpoint.VirtualIPs) > 0 {
			p("Virtual IPs:")
			for _, v := range s.Endpoint.VirtualIPs {
				p(" %s\t%s", api.ShortID(v.NetworkID), v.Addr)
			}
		}
	}
	if len(ports) > 0 {
		p("Ports:")
		for _, port := range ports {
			p(" PublishedPort = %d", port.PublishedPort)
			p("  Protocol = %s", protocolOf(port))
			p("  TargetPort = %d", port.TargetPort)
			p("  PublishMode = %s", publishModeOf(port))
		}
	}
	prettyIngress(p, &spec)
	return w.Flush()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
