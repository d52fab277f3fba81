package api_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// TestValidationErrorsNameTheirField: every problem Validate and
// ValidateEndpoint find is a FieldError whose path names the spec field
// (list index, map key included), so a stack file's loader can place it
// at the compose key that set the field.
func TestValidationErrorsNameTheirField(t *testing.T) {
	s := validSpec()
	s.Name = "bad name"
	s.Labels = map[string]string{"k": strings.Repeat("v", api.MaxValueLen+1)}
	c := &s.TaskTemplate.ContainerSpec
	c.StopSignal = "FOO"
	c.Env = []string{"A=1", "=2", "B={{.Nope}}"}
	c.Mounts = []api.Mount{{Type: api.MountBind, Source: "/a", Target: "/b"}, {Type: api.MountBind, Source: "{{", Target: "/c"}}
	s.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: "sometimes", Delay: api.DurationPtr(-1)}
	s.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.role==manager", "nope"}}
	s.UpdateConfig = &api.UpdateConfig{Order: "sideways"}
	s.RollbackConfig = &api.UpdateConfig{MaxFailureRatio: 2}
	s.EndpointSpec = &api.EndpointSpec{Mode: "dnsrr", Ports: []api.PortConfig{{TargetPort: 80, Protocol: "tcp", PublishMode: "host"}, {TargetPort: 81, Protocol: "sctp"}}}
	fields, other := api.FieldErrors(errors.Join(s.Validate(), s.EndpointSpec.ValidateEndpoint()))
	if len(other) > 0 {
		t.Errorf("problems without a field: %v", other)
	}
	var got []string
	for _, f := range fields {
		got = append(got, f.PathString())
	}
	for _, want := range []string{
		"Name", "Labels.k",
		"TaskTemplate.ContainerSpec.StopSignal",
		"TaskTemplate.ContainerSpec.Env[1]", "TaskTemplate.ContainerSpec.Env[2]",
		"TaskTemplate.ContainerSpec.Mounts[1].Source",
		"TaskTemplate.RestartPolicy.Condition", "TaskTemplate.RestartPolicy.Delay",
		"TaskTemplate.Placement.Constraints[1]",
		"UpdateConfig.Order", "RollbackConfig.MaxFailureRatio",
		"EndpointSpec.Ports[1].Protocol", "EndpointSpec.Ports[1].PublishMode",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("no problem at %s; got %q", want, got)
		}
	}
	if len(got) != 13 {
		t.Errorf("%d problems, want 13: %q", len(got), got)
	}
}
