package compose

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoalproject/shoal/api"
)

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

func (c *converter) serviceNetworks(s types.ServiceConfig, at func(...any) []string, o origins) []api.NetworkAttachment {
	nets := s.Networks
	if len(nets) == 0 {
		// No network listed (or network_mode, which a stack ignores): the
		// stack's default network, as docker stack deploy does.
		nets = map[string]*types.ServiceNetworkConfig{"default": nil}
	}
	var out []api.NetworkAttachment
	keyOf := map[string]string{} // target → key
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
		keyOf[target] = key
		out = append(out, api.NetworkAttachment{Target: target, Aliases: aliases})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	for i, n := range out {
		o.set([]string{"TaskTemplate", "Networks", strconv.Itoa(i)}, at("networks", keyOf[n.Target]))
	}
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

func (c *converter) endpoint(s types.ServiceConfig, mode string, at func(...any) []string, o origins) *api.EndpointSpec {
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
		o.set([]string{"EndpointSpec", "Ports", strconv.Itoa(len(ep.Ports))}, at("ports", i))
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

func (c *converter) placement(p types.Placement, global bool, at func(...any) []string, o origins) *api.Placement {
	out := &api.Placement{MaxReplicas: p.MaxReplicas}
	for i, expr := range p.Constraints {
		if _, err := api.ParseConstraint(expr); err != nil {
			c.l.fail(c.l.at(at("deploy", "placement", "constraints", i), "%v", err))
			continue
		}
		o.set([]string{"TaskTemplate", "Placement", "Constraints", strconv.Itoa(len(out.Constraints))}, at("deploy", "placement", "constraints", i))
		out.Constraints = append(out.Constraints, expr)
	}
	for i, pref := range p.Preferences {
		if strings.TrimSpace(pref.Spread) == "" {
			c.l.fail(c.l.at(at("deploy", "placement", "preferences", i), "spread: give a node attribute, such as node.labels.zone"))
			continue
		}
		o.set([]string{"TaskTemplate", "Placement", "Preferences", strconv.Itoa(len(out.Preferences))}, at("deploy", "placement", "preferences", i))
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
