package api

import (
	"strings"
	"testing"
)

// TestSwarmTemplatesExpand: every name of Swarm's template context
// expands in env, hostname, mount sources and targets and volume labels,
// without changing the spec it was given; a global task's slot is its
// node's ID.
func TestSwarmTemplatesExpand(t *testing.T) {
	task := &Task{ID: "t1", ServiceID: "s1", ServiceName: "mon_exporter", Slot: 2, NodeID: "n1",
		ServiceLabels: map[string]string{"team": "ops"}}
	node := NodeDescription{Hostname: "box", Platform: Platform{OS: "linux", Architecture: "x86_64"}}
	in := ContainerSpec{
		Env: []string{
			"ALL={{.Service.ID}} {{.Service.Name}} {{index .Service.Labels \"team\"}} {{.Service.Labels.team}}",
			"NODE={{.Node.ID}} {{.Node.Hostname}} {{.Node.Platform.OS}} {{.Node.Platform.Architecture}}",
			"TASK={{.Task.ID}} {{.Task.Name}} {{.Task.Slot}}",
			"PLAIN=no template",
		},
		Hostname: "{{.Node.Hostname}}-{{.Task.Slot}}",
		Mounts:   []Mount{{Type: MountVolume, Source: "data-{{.Task.Slot}}", Target: "/data/{{.Node.ID}}", VolumeLabels: map[string]string{"node": "{{.Node.ID}}"}}},
	}
	out, err := ExpandTemplates(in, NewTemplateContext(task, node))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ALL=s1 mon_exporter ops ops", "NODE=n1 box linux x86_64", "TASK=t1 mon_exporter.2.t1 2", "PLAIN=no template"}
	if strings.Join(out.Env, "|") != strings.Join(want, "|") {
		t.Errorf("env %q, want %q", out.Env, want)
	}
	if out.Hostname != "box-2" || out.Mounts[0].Source != "data-2" || out.Mounts[0].Target != "/data/n1" || out.Mounts[0].VolumeLabels["node"] != "n1" {
		t.Errorf("hostname %q, mount %+v", out.Hostname, out.Mounts[0])
	}
	if in.Env[1] != "NODE={{.Node.ID}} {{.Node.Hostname}} {{.Node.Platform.OS}} {{.Node.Platform.Architecture}}" || in.Mounts[0].VolumeLabels["node"] != "{{.Node.ID}}" {
		t.Errorf("the given spec was changed: %+v", in)
	}

	task.Slot = 0
	out, err = ExpandTemplates(ContainerSpec{Env: []string{"SLOT={{.Task.Slot}}", "NAME={{.Task.Name}}"}}, NewTemplateContext(task, node))
	if err != nil || out.Env[0] != "SLOT=n1" || out.Env[1] != "NAME=mon_exporter.n1.t1" {
		t.Errorf("global task: env %q, err %v", out.Env, err)
	}
}

// TestBadSwarmTemplateIsRefused: a template that does not parse, names a
// field Swarm's context lacks, or a service label the service lacks,
// fails service validation, naming the field.
func TestBadSwarmTemplateIsRefused(t *testing.T) {
	spec := ServiceSpec{Name: "web", Mode: ServiceMode{Replicated: &ReplicatedService{Replicas: 1}}}
	spec.TaskTemplate.ContainerSpec = ContainerSpec{
		Command:  []string{"sleep", "1"},
		Env:      []string{"A={{.Node.ID", "B={{.Node.Zone}}", "C={{.Service.Labels.team}}"},
		Hostname: "{{.Task.Nope}}",
	}
	err := spec.Validate()
	if err == nil {
		t.Fatal("bad templates passed validation")
	}
	for _, want := range []string{`env "A={{.Node.ID": bad Swarm template`, `env "B={{.Node.Zone}}": bad Swarm template`, "can't evaluate field Zone", `env "C={{.Service.Labels.team}}": bad Swarm template`, "hostname: bad Swarm template"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("validation error lacks %q:\n%v", want, err)
		}
	}
	spec.Labels = map[string]string{"team": "ops"}
	spec.TaskTemplate.ContainerSpec.Env = []string{"C={{.Service.Labels.team}}"}
	spec.TaskTemplate.ContainerSpec.Hostname = "{{.Node.Hostname}}"
	if err := spec.Validate(); err != nil {
		t.Errorf("good templates: %v", err)
	}
}
