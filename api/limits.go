package api

import (
	"encoding/json"
	"fmt"
)

// Limits on what a client may put in a spec. A service's spec is copied
// into every task the orchestrator makes, into the Raft entries that write
// them and into the service's history, so every list and string a client
// controls is bounded. Past a limit the API answers 400 naming the field
// and the limit. docs/api.md lists them; keep the two in step.
const (
	// MaxReplicas bounds a replicated service (Swarm has no limit; a
	// billion replicas would exhaust the manager's memory).
	MaxReplicas = 100_000
	// MaxSpecBytes bounds a service spec's JSON form.
	MaxSpecBytes = 256 << 10

	// MaxLabels bounds each label map: a service's, a container's, a
	// volume's, a config's, a secret's or a network's, and the log
	// driver's options and sysctls.
	MaxLabels = 1000
	// MaxPorts bounds the ports of a service (a published range of 1000
	// ports fits).
	MaxPorts = 1000
	// MaxEnv bounds the environment variables of a task.
	MaxEnv = 1000
	// MaxArgs bounds a task's command and arguments together.
	MaxArgs = 1000
	// MaxMounts, MaxConfigs, MaxSecrets and MaxNetworks bound a task's
	// mounts, config and secret files and network attachments.
	MaxMounts   = 100
	MaxConfigs  = 100
	MaxSecrets  = 100
	MaxNetworks = 100
	// MaxConstraints and MaxPreferences bound a service's placement.
	MaxConstraints = 100
	MaxPreferences = 10
	// MaxListItems bounds every other list: health check test, network
	// aliases, capabilities, ulimits, extra hosts, DNS servers, search
	// domains and options.
	MaxListItems = 100

	// MaxNameLen bounds a short string: a label key, an image, a path, a
	// user, a hostname, a constraint, a mount's source or target.
	MaxNameLen = 4096
	// MaxValueLen bounds a long string: a label value, an environment
	// entry, one argument, one health check test entry.
	MaxValueLen = 64 << 10
)

// limits collects the limit problems of one spec.
type limits struct{ errs []error }

func (l *limits) add(format string, a ...any) { l.errs = append(l.errs, fmt.Errorf(format, a...)) }

// count checks a list's length.
func (l *limits) count(field string, n, max int) {
	if n > max {
		l.add("%s: %d entries, more than the %d allowed", field, n, max)
	}
}

// str checks one string's length.
func (l *limits) str(field, s string, max int) {
	if len(s) > max {
		l.add("%s: %d bytes long, more than the %d allowed", field, len(s), max)
	}
}

// strs checks a list's length and each entry's length.
func (l *limits) strs(field string, ss []string, maxN, maxLen int) {
	l.count(field, len(ss), maxN)
	l.lens(field, ss, maxLen)
}

// lens checks each entry's length, reporting the first one over the limit
// only.
func (l *limits) lens(field string, ss []string, maxLen int) {
	for i, s := range ss {
		if len(s) > maxLen {
			l.add("%s[%d]: %d bytes long, more than the %d allowed", field, i, len(s), maxLen)
			return
		}
	}
}

// labels checks a label map (or options, sysctls).
func (l *limits) labels(field string, m map[string]string) {
	if err := ValidateLabelLimits(field, m); err != nil {
		l.errs = append(l.errs, err)
	}
}

// ValidateLabelLimits checks the size of a label map: at most MaxLabels
// entries, keys of at most MaxNameLen bytes and values of at most
// MaxValueLen. field names the map in the error ("labels").
func ValidateLabelLimits(field string, m map[string]string) error {
	if len(m) > MaxLabels {
		return fmt.Errorf("%s: %d entries, more than the %d allowed", field, len(m), MaxLabels)
	}
	for k, v := range m {
		if len(k) > MaxNameLen {
			return fmt.Errorf("%s: key %.40q... is %d bytes long, more than the %d allowed", field, k, len(k), MaxNameLen)
		}
		if len(v) > MaxValueLen {
			return fmt.Errorf("%s: value of %.80q is %d bytes long, more than the %d allowed", field, k, len(v), MaxValueLen)
		}
	}
	return nil
}

// checkLimits returns the problems of a spec that is too big.
func (s *ServiceSpec) checkLimits() []error {
	l := &limits{}
	if n := s.Mode.Replicas(); n > MaxReplicas {
		field := "replicas"
		if s.Mode.ReplicatedJob != nil {
			field = "total-completions"
		}
		l.add("%s: %d, more than the %d allowed", field, n, MaxReplicas)
	}
	if j := s.Mode.ReplicatedJob; j != nil && j.MaxConcurrent > MaxReplicas {
		l.add("max-concurrent: %d, more than the %d allowed", j.MaxConcurrent, MaxReplicas)
	}
	l.labels("labels", s.Labels)
	t := &s.TaskTemplate
	c := &t.ContainerSpec
	l.str("image", c.Image, MaxNameLen)
	l.labels("container labels", c.Labels)
	l.count("command and args", len(c.Command)+len(c.Args), MaxArgs)
	l.lens("command", c.Command, MaxValueLen)
	l.lens("args", c.Args, MaxValueLen)
	l.str("hostname", c.Hostname, MaxNameLen)
	l.strs("env", c.Env, MaxEnv, MaxValueLen)
	l.str("workdir", c.Dir, MaxNameLen)
	l.str("user", c.User, MaxNameLen)
	l.str("stop signal", c.StopSignal, MaxNameLen)
	if h := c.Healthcheck; h != nil {
		l.strs("health check test", h.Test, MaxListItems, MaxValueLen)
	}
	l.count("configs", len(c.Configs), MaxConfigs)
	for i, r := range c.Configs {
		l.str(fmt.Sprintf("configs[%d] name", i), r.ConfigName, MaxNameLen)
		l.fileTarget(fmt.Sprintf("configs[%d]", i), r.File)
	}
	l.count("secrets", len(c.Secrets), MaxSecrets)
	for i, r := range c.Secrets {
		l.str(fmt.Sprintf("secrets[%d] name", i), r.SecretName, MaxNameLen)
		l.fileTarget(fmt.Sprintf("secrets[%d]", i), r.File)
	}
	l.count("mounts", len(c.Mounts), MaxMounts)
	for i, m := range c.Mounts {
		l.str(fmt.Sprintf("mounts[%d] source", i), m.Source, MaxNameLen)
		l.str(fmt.Sprintf("mounts[%d] target", i), m.Target, MaxNameLen)
		l.labels(fmt.Sprintf("mounts[%d] volume labels", i), m.VolumeLabels)
	}
	l.strs("capability add", c.CapAdd, MaxListItems, MaxNameLen)
	l.strs("capability drop", c.CapDrop, MaxListItems, MaxNameLen)
	l.labels("sysctls", c.Sysctls)
	l.count("ulimits", len(c.Ulimits), MaxListItems)
	l.strs("hosts", c.Hosts, MaxListItems, MaxNameLen)
	if d := c.DNSConfig; d != nil {
		l.strs("dns nameservers", d.Nameservers, MaxListItems, MaxNameLen)
		l.strs("dns search", d.Search, MaxListItems, MaxNameLen)
		l.strs("dns options", d.Options, MaxListItems, MaxNameLen)
	}
	if p := t.Placement; p != nil {
		l.strs("placement constraints", p.Constraints, MaxConstraints, MaxNameLen)
		l.count("placement preferences", len(p.Preferences), MaxPreferences)
		for i, pref := range p.Preferences {
			l.str(fmt.Sprintf("placement preferences[%d]", i), pref.Spread, MaxNameLen)
		}
	}
	l.count("networks", len(t.Networks), MaxNetworks)
	for i, n := range t.Networks {
		l.str(fmt.Sprintf("networks[%d] target", i), n.Target, MaxNameLen)
		l.strs(fmt.Sprintf("networks[%d] aliases", i), n.Aliases, MaxListItems, MaxNameLen)
	}
	if d := t.LogDriver; d != nil {
		l.str("log driver", d.Name, MaxNameLen)
		l.labels("log driver options", d.Options)
	}
	if e := s.EndpointSpec; e != nil {
		l.count("ports", len(e.Ports), MaxPorts)
	}
	if len(l.errs) == 0 {
		// Each part is bounded; the whole must be too, as it is copied
		// into every task.
		if b, err := json.Marshal(s); err == nil && len(b) > MaxSpecBytes {
			l.add("spec: %d bytes as JSON, more than the %d allowed", len(b), MaxSpecBytes)
		}
	}
	return l.errs
}

func (l *limits) fileTarget(field string, f *FileTarget) {
	if f == nil {
		return
	}
	l.str(field+" file", f.Name, MaxNameLen)
	l.str(field+" uid", f.UID, MaxNameLen)
	l.str(field+" gid", f.GID, MaxNameLen)
}
