package api

import (
	"encoding/json"
	"fmt"
	"strconv"
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

// limits collects the limit problems of one spec, each a *FieldError.
type limits struct{ errs []error }

func (l *limits) add(path []string, format string, a ...any) {
	l.errs = append(l.errs, fieldErr(path, format, a...))
}

// count checks a list's length.
func (l *limits) count(path []string, field string, n, max int) {
	if n > max {
		l.add(path, "%s: %d entries, more than the %d allowed", field, n, max)
	}
}

// str checks one string's length.
func (l *limits) str(path []string, field, s string, max int) {
	if len(s) > max {
		l.add(path, "%s: %d bytes long, more than the %d allowed", field, len(s), max)
	}
}

// strs checks a list's length and each entry's length.
func (l *limits) strs(path []string, field string, ss []string, maxN, maxLen int) {
	l.count(path, field, len(ss), maxN)
	l.lens(path, field, ss, maxLen)
}

// lens checks each entry's length, reporting the first one over the limit
// only.
func (l *limits) lens(path []string, field string, ss []string, maxLen int) {
	for i, s := range ss {
		if len(s) > maxLen {
			l.add(join(path, strconv.Itoa(i)), "%s[%d]: %d bytes long, more than the %d allowed", field, i, len(s), maxLen)
			return
		}
	}
}

// labels checks a label map (or options, sysctls).
func (l *limits) labels(path []string, field string, m map[string]string) {
	if err := ValidateLabelLimits(field, m); err != nil {
		l.errs = append(l.errs, fieldsAt(path, err))
	}
}

// ValidateLabelLimits checks the size of a label map: at most MaxLabels
// entries, keys of at most MaxNameLen bytes and values of at most
// MaxValueLen. field names the map in the error ("labels"). The error is
// a *FieldError whose path is the label's key when it names one.
func ValidateLabelLimits(field string, m map[string]string) error {
	if len(m) > MaxLabels {
		return fieldErr(nil, "%s: %d entries, more than the %d allowed", field, len(m), MaxLabels)
	}
	for k, v := range m {
		if len(k) > MaxNameLen {
			return fieldErr([]string{k}, "%s: key %.40q... is %d bytes long, more than the %d allowed", field, k, len(k), MaxNameLen)
		}
		if len(v) > MaxValueLen {
			return fieldErr([]string{k}, "%s: value of %.80q is %d bytes long, more than the %d allowed", field, k, len(v), MaxValueLen)
		}
	}
	return nil
}

// checkLimits returns the problems of a spec that is too big.
func (s *ServiceSpec) checkLimits() []error {
	l := &limits{}
	p := func(segs ...string) []string { return segs }
	if n := s.Mode.Replicas(); n > MaxReplicas {
		field, path := "replicas", p("Mode", "Replicated", "Replicas")
		if s.Mode.ReplicatedJob != nil {
			field, path = "total-completions", p("Mode", "ReplicatedJob", "TotalCompletions")
		}
		l.add(path, "%s: %d, more than the %d allowed", field, n, MaxReplicas)
	}
	if j := s.Mode.ReplicatedJob; j != nil && j.MaxConcurrent > MaxReplicas {
		l.add(p("Mode", "ReplicatedJob", "MaxConcurrent"), "max-concurrent: %d, more than the %d allowed", j.MaxConcurrent, MaxReplicas)
	}
	l.labels(p("Labels"), "labels", s.Labels)
	t := &s.TaskTemplate
	c := &t.ContainerSpec
	cp := func(segs ...string) []string { return join([]string{"TaskTemplate", "ContainerSpec"}, segs...) }
	l.str(cp("Image"), "image", c.Image, MaxNameLen)
	l.labels(cp("Labels"), "container labels", c.Labels)
	l.count(cp("Command"), "command and args", len(c.Command)+len(c.Args), MaxArgs)
	l.lens(cp("Command"), "command", c.Command, MaxValueLen)
	l.lens(cp("Args"), "args", c.Args, MaxValueLen)
	l.str(cp("Hostname"), "hostname", c.Hostname, MaxNameLen)
	l.strs(cp("Env"), "env", c.Env, MaxEnv, MaxValueLen)
	l.str(cp("Dir"), "workdir", c.Dir, MaxNameLen)
	l.str(cp("User"), "user", c.User, MaxNameLen)
	l.str(cp("StopSignal"), "stop signal", c.StopSignal, MaxNameLen)
	if h := c.Healthcheck; h != nil {
		l.strs(cp("Healthcheck", "Test"), "health check test", h.Test, MaxListItems, MaxValueLen)
	}
	l.count(cp("Configs"), "configs", len(c.Configs), MaxConfigs)
	for i, r := range c.Configs {
		ip := cp("Configs", strconv.Itoa(i))
		l.str(join(ip, "ConfigName"), fmt.Sprintf("configs[%d] name", i), r.ConfigName, MaxNameLen)
		l.fileTarget(join(ip, "File"), fmt.Sprintf("configs[%d]", i), r.File)
	}
	l.count(cp("Secrets"), "secrets", len(c.Secrets), MaxSecrets)
	for i, r := range c.Secrets {
		ip := cp("Secrets", strconv.Itoa(i))
		l.str(join(ip, "SecretName"), fmt.Sprintf("secrets[%d] name", i), r.SecretName, MaxNameLen)
		l.fileTarget(join(ip, "File"), fmt.Sprintf("secrets[%d]", i), r.File)
	}
	l.count(cp("Mounts"), "mounts", len(c.Mounts), MaxMounts)
	for i, m := range c.Mounts {
		ip := cp("Mounts", strconv.Itoa(i))
		l.str(join(ip, "Source"), fmt.Sprintf("mounts[%d] source", i), m.Source, MaxNameLen)
		l.str(join(ip, "Target"), fmt.Sprintf("mounts[%d] target", i), m.Target, MaxNameLen)
		l.labels(join(ip, "VolumeLabels"), fmt.Sprintf("mounts[%d] volume labels", i), m.VolumeLabels)
	}
	l.strs(cp("CapAdd"), "capability add", c.CapAdd, MaxListItems, MaxNameLen)
	l.strs(cp("CapDrop"), "capability drop", c.CapDrop, MaxListItems, MaxNameLen)
	l.labels(cp("Sysctls"), "sysctls", c.Sysctls)
	l.count(cp("Ulimits"), "ulimits", len(c.Ulimits), MaxListItems)
	l.strs(cp("Hosts"), "hosts", c.Hosts, MaxListItems, MaxNameLen)
	if d := c.DNSConfig; d != nil {
		l.strs(cp("DNSConfig", "Nameservers"), "dns nameservers", d.Nameservers, MaxListItems, MaxNameLen)
		l.strs(cp("DNSConfig", "Search"), "dns search", d.Search, MaxListItems, MaxNameLen)
		l.strs(cp("DNSConfig", "Options"), "dns options", d.Options, MaxListItems, MaxNameLen)
	}
	if pl := t.Placement; pl != nil {
		l.strs(p("TaskTemplate", "Placement", "Constraints"), "placement constraints", pl.Constraints, MaxConstraints, MaxNameLen)
		l.count(p("TaskTemplate", "Placement", "Preferences"), "placement preferences", len(pl.Preferences), MaxPreferences)
		for i, pref := range pl.Preferences {
			l.str(p("TaskTemplate", "Placement", "Preferences", strconv.Itoa(i), "Spread"), fmt.Sprintf("placement preferences[%d]", i), pref.Spread, MaxNameLen)
		}
	}
	l.count(p("TaskTemplate", "Networks"), "networks", len(t.Networks), MaxNetworks)
	for i, n := range t.Networks {
		ip := p("TaskTemplate", "Networks", strconv.Itoa(i))
		l.str(join(ip, "Target"), fmt.Sprintf("networks[%d] target", i), n.Target, MaxNameLen)
		l.strs(join(ip, "Aliases"), fmt.Sprintf("networks[%d] aliases", i), n.Aliases, MaxListItems, MaxNameLen)
	}
	if d := t.LogDriver; d != nil {
		l.str(p("TaskTemplate", "LogDriver", "Name"), "log driver", d.Name, MaxNameLen)
		l.labels(p("TaskTemplate", "LogDriver", "Options"), "log driver options", d.Options)
	}
	if e := s.EndpointSpec; e != nil {
		l.count(p("EndpointSpec", "Ports"), "ports", len(e.Ports), MaxPorts)
	}
	if len(l.errs) == 0 {
		// Each part is bounded; the whole must be too, as it is copied
		// into every task.
		if b, err := json.Marshal(s); err == nil && len(b) > MaxSpecBytes {
			l.add(nil, "spec: %d bytes as JSON, more than the %d allowed", len(b), MaxSpecBytes)
		}
	}
	return l.errs
}

func (l *limits) fileTarget(path []string, field string, f *FileTarget) {
	if f == nil {
		return
	}
	l.str(join(path, "Name"), field+" file", f.Name, MaxNameLen)
	l.str(join(path, "UID"), field+" uid", f.UID, MaxNameLen)
	l.str(join(path, "GID"), field+" gid", f.GID, MaxNameLen)
}
