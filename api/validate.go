package api

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// A service name is a DNS label in which '_' may also join parts (stacks
// name services STACK_SERVICE).
var serviceNameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[a-zA-Z0-9]+)*$`)

// ValidateName checks an object name; kind names the object in the error.
func ValidateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", kind)
	}
	if len(name) > 63 {
		return fmt.Errorf("invalid %s name %q: longer than 63 characters", kind, name)
	}
	if !serviceNameRE.MatchString(name) {
		return fmt.Errorf("invalid %s name %q: use letters, digits, '-' and '_', starting and ending with a letter or digit", kind, name)
	}
	return nil
}

// Validate checks a service spec and returns every problem found, joined;
// each is a *FieldError naming the field (FieldErrors lists them).
func (s *ServiceSpec) Validate() error {
	var errs []error
	add := func(path []string, format string, a ...any) { errs = append(errs, fieldErr(path, format, a...)) }
	if err := ValidateName("service", s.Name); err != nil {
		errs = append(errs, fieldsAt([]string{"Name"}, err))
	}
	modes := 0
	for _, set := range []bool{s.Mode.Replicated != nil, s.Mode.Global != nil, s.Mode.ReplicatedJob != nil, s.Mode.GlobalJob != nil} {
		if set {
			modes++
		}
	}
	switch {
	case modes > 1:
		add([]string{"Mode"}, "mode: set one of replicated, global, replicated-job and global-job, not several")
	case modes == 0:
		add([]string{"Mode"}, "mode: missing (replicated, global, replicated-job or global-job)")
	}
	cp := []string{"TaskTemplate", "ContainerSpec"}
	c := s.TaskTemplate.ContainerSpec
	if c.Image == "" && len(c.Command) == 0 {
		add(cp, "no image and no command: a service runs an image, or a program given as its command")
	}
	if c.Image == "" && len(c.Command) > 0 && c.Command[0] == "" {
		add(join(cp, "Command", "0"), "command: the program name is empty")
	}
	if c.StopGracePeriod != nil && *c.StopGracePeriod < 0 {
		add(join(cp, "StopGracePeriod"), "stop grace period %s is negative", c.StopGracePeriod)
	}
	if h := c.Healthcheck; h != nil {
		for _, d := range []struct {
			field, name string
			d           *Duration
		}{{"Interval", "interval", h.Interval}, {"Timeout", "timeout", h.Timeout}, {"StartPeriod", "start period", h.StartPeriod}, {"StartInterval", "start interval", h.StartInterval}} {
			if d.d != nil && *d.d < 0 {
				add(join(cp, "Healthcheck", d.field), "health check %s %s is negative", d.name, d.d)
			}
		}
	}
	s.checkFileTargets(add)
	if c.StopSignal != "" {
		if _, err := ParseSignal(c.StopSignal); err != nil {
			errs = append(errs, fieldsAt(join(cp, "StopSignal"), err))
		}
	}
	for i, e := range c.Env {
		if k, _, _ := strings.Cut(e, "="); k == "" {
			add(join(cp, "Env", strconv.Itoa(i)), "env %q: missing variable name", e)
		}
	}
	if rp := s.TaskTemplate.RestartPolicy; rp != nil {
		rpp := []string{"TaskTemplate", "RestartPolicy"}
		switch rp.Condition {
		case "", RestartConditionAny, RestartConditionOnFailure, RestartConditionNone:
		default:
			add(join(rpp, "Condition"), "restart condition %q: want any, on-failure or none", rp.Condition)
		}
		if rp.Delay != nil && *rp.Delay < 0 {
			add(join(rpp, "Delay"), "restart delay %s is negative", rp.Delay)
		}
		if rp.Window != nil && *rp.Window < 0 {
			add(join(rpp, "Window"), "restart window %s is negative", rp.Window)
		}
	}
	if r := s.TaskTemplate.Resources; r != nil {
		for _, res := range []struct {
			field string
			r     *Resources
		}{{"Limits", r.Limits}, {"Reservations", r.Reservations}} {
			if res.r != nil && (res.r.NanoCPUs < 0 || res.r.MemoryBytes < 0) {
				add([]string{"TaskTemplate", "Resources", res.field}, "resources: negative amount")
			}
		}
	}
	if s.EndpointSpec != nil {
		seen := map[string]bool{}
		for i, p := range s.EndpointSpec.Ports {
			pp := []string{"EndpointSpec", "Ports", strconv.Itoa(i)}
			if p.TargetPort == 0 || p.TargetPort > 65535 {
				add(join(pp, "TargetPort"), "port %d: target port must be 1-65535", p.TargetPort)
			}
			if p.PublishedPort > 65535 {
				add(join(pp, "PublishedPort"), "port %d: published port must be 1-65535", p.PublishedPort)
			}
			switch p.Protocol {
			case "", "tcp", "udp":
			default:
				add(join(pp, "Protocol"), "port %d: protocol %q: want tcp or udp", p.TargetPort, p.Protocol)
			}
			switch p.PublishMode {
			case "", "ingress", "host":
			default:
				add(join(pp, "PublishMode"), "port %d: mode %q: want ingress or host", p.TargetPort, p.PublishMode)
			}
			if p.PublishedPort != 0 {
				key := fmt.Sprintf("%d/%s", p.PublishedPort, protoOrTCP(p.Protocol))
				if seen[key] {
					add(join(pp, "PublishedPort"), "published port %s is used twice", key)
				}
				seen[key] = true
			}
		}
	}
	for _, u := range []struct {
		field string
		c     *UpdateConfig
	}{{"UpdateConfig", s.UpdateConfig}, {"RollbackConfig", s.RollbackConfig}} {
		if u.c == nil {
			continue
		}
		switch u.c.FailureAction {
		case "", "pause", "continue", "rollback":
		default:
			add([]string{u.field, "FailureAction"}, "update failure action %q: want pause, continue or rollback", u.c.FailureAction)
		}
		switch u.c.Order {
		case "", "stop-first", "start-first":
		default:
			add([]string{u.field, "Order"}, "update order %q: want stop-first or start-first", u.c.Order)
		}
		if u.c.MaxFailureRatio < 0 || u.c.MaxFailureRatio > 1 {
			add([]string{u.field, "MaxFailureRatio"}, "update max failure ratio %v: want a number from 0 to 1", u.c.MaxFailureRatio)
		}
	}
	if p := s.TaskTemplate.Placement; p != nil {
		for i, c := range p.Constraints {
			if _, err := ParseConstraint(c); err != nil {
				errs = append(errs, fieldsAt([]string{"TaskTemplate", "Placement", "Constraints", strconv.Itoa(i)}, err))
			}
		}
	}
	errs = append(errs, fieldsAt(cp, s.validateTemplates()))
	errs = append(errs, s.checkLimits()...)
	return errors.Join(errs...)
}

func protoOrTCP(p string) string {
	if p == "" {
		return "tcp"
	}
	return p
}

// ParseSignal reads a signal name ("SIGTERM", "TERM") or number ("15").
func ParseSignal(s string) (syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s), "SIG"))
	if sig, ok := signals[name]; ok {
		return sig, nil
	}
	// The whole string must be the number: Sscanf would take "9x" as 9.
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	return 0, fmt.Errorf("invalid stop signal %q", s)
}

// signals are Linux's numbers, where tasks run, from a table rather than
// the build platform's syscall constants: a CLI built for macOS or
// Windows must check and send the same numbers.
var signals = map[string]syscall.Signal{
	"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12,
	"TERM": 15, "STOP": 19, "WINCH": 28, "PWR": 30,
}
