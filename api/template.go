package api

import (
	"errors"
	"maps"
	"strconv"
	"strings"
	"text/template"
)

// TemplateContext is what a Swarm template in a task's environment,
// hostname, mount sources and targets and volume labels may name, as
// swarmkit's: {{.Service.ID}}, {{.Service.Name}}, {{.Service.Labels}},
// {{.Node.ID}}, {{.Node.Hostname}}, {{.Node.Platform.OS}} (and
// .Architecture), {{.Task.ID}}, {{.Task.Name}} and {{.Task.Slot}}.
type TemplateContext struct {
	Service struct {
		ID     string
		Name   string
		Labels map[string]string
	}
	Node struct {
		ID       string
		Hostname string
		Platform Platform
	}
	Task struct {
		ID   string
		Name string
		// Slot is the replica's number, or the node's ID for a global
		// service's task, as in Swarm.
		Slot string
	}
}

// NewTemplateContext is the context of task t on the node described by
// node.
func NewTemplateContext(t *Task, node NodeDescription) TemplateContext {
	var c TemplateContext
	c.Service.ID, c.Service.Name, c.Service.Labels = t.ServiceID, t.ServiceName, t.ServiceLabels
	c.Node.ID, c.Node.Hostname, c.Node.Platform = t.NodeID, node.Hostname, node.Platform
	c.Task.ID, c.Task.Name, c.Task.Slot = t.ID, t.FullName(), strconv.FormatUint(t.Slot, 10)
	if t.Slot == 0 {
		c.Task.Slot = t.NodeID
	}
	return c
}

// ExpandTemplates returns c with the Swarm templates of its environment,
// hostname, mount sources and targets and volume labels expanded in ctx.
// c itself is not changed. A template that does not parse, or names what
// ctx lacks, is an error naming the field (a *FieldError whose path starts
// at the ContainerSpec).
func ExpandTemplates(c ContainerSpec, ctx TemplateContext) (ContainerSpec, error) {
	var errs []error
	// path is the field's within the ContainerSpec, for the FieldError.
	expand := func(path []string, field, s string) string {
		out, err := expandTemplate(s, ctx)
		if err != nil {
			errs = append(errs, fieldErr(path, "%s: bad Swarm template: %v", field, err))
		}
		return out
	}
	if len(c.Env) > 0 {
		env := make([]string, len(c.Env))
		for i, e := range c.Env {
			env[i] = expand([]string{"Env", strconv.Itoa(i)}, "env "+strconv.Quote(e), e)
		}
		c.Env = env
	}
	c.Hostname = expand([]string{"Hostname"}, "hostname", c.Hostname)
	if len(c.Mounts) > 0 {
		mounts := make([]Mount, len(c.Mounts))
		for i, m := range c.Mounts {
			mp := []string{"Mounts", strconv.Itoa(i)}
			m.Source = expand(join(mp, "Source"), "mount source "+strconv.Quote(m.Source), m.Source)
			m.Target = expand(join(mp, "Target"), "mount target "+strconv.Quote(m.Target), m.Target)
			if len(m.VolumeLabels) > 0 {
				labels := maps.Clone(m.VolumeLabels)
				for k, v := range labels {
					labels[k] = expand(join(mp, "VolumeLabels", k), "volume label "+k, v)
				}
				m.VolumeLabels = labels
			}
			mounts[i] = m
		}
		c.Mounts = mounts
	}
	return c, errors.Join(errs...)
}

// expandTemplate expands one string; one without "{{" is returned as is,
// without parsing.
func expandTemplate(s string, ctx TemplateContext) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	// missingkey=error: {{.Service.Labels.team}} on a service without
	// the label fails, rather than becoming "<no value>".
	tmpl, err := template.New("").Option("missingkey=error").Parse(s)
	if err != nil {
		return s, err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, ctx); err != nil {
		return s, err
	}
	return b.String(), nil
}

// validateTemplates checks the templates of a service's task as the agent
// will expand them, with a stand-in task of the service: a template that
// can't expand fails the write rather than every task.
func (s *ServiceSpec) validateTemplates() error {
	t := &Task{ID: "taskid", ServiceID: "serviceid", ServiceName: s.Name, Slot: 1, NodeID: "nodeid", ServiceLabels: s.Labels}
	_, err := ExpandTemplates(s.TaskTemplate.ContainerSpec, NewTemplateContext(t, NodeDescription{Hostname: "host", Platform: Platform{OS: "linux", Architecture: "x86_64"}}))
	return err
}
