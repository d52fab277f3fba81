package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

func strList(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		s := fmt.Sprintf("x%d", i)
		out[i] = s + strings.Repeat("x", max(size-len(s), 0))
	}
	return out
}

func labelMap(n, keySize, valSize int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k%d", i)
		m[k+strings.Repeat("k", max(keySize-len(k), 0))] = strings.Repeat("v", valSize)
	}
	return m
}

func envList(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		s := fmt.Sprintf("V%d=", i)
		out[i] = s + strings.Repeat("x", max(size-len(s), 0))
	}
	return out
}

// limitCase sets a field at its limit (at) and one past it (over); the
// error past it must name the field (want) and the limit.
type limitCase struct {
	name  string
	set   func(s *api.ServiceSpec, n int)
	limit int
	want  string
}

func limitCases() []limitCase {
	cs := func(s *api.ServiceSpec) *api.ContainerSpec { return &s.TaskTemplate.ContainerSpec }
	placement := func(s *api.ServiceSpec) *api.Placement {
		if s.TaskTemplate.Placement == nil {
			s.TaskTemplate.Placement = &api.Placement{}
		}
		return s.TaskTemplate.Placement
	}
	return []limitCase{
		{"replicas", func(s *api.ServiceSpec, n int) { s.Mode.Replicated.Replicas = uint64(n) }, api.MaxReplicas, "replicas: 100001, more than the 100000 allowed"},
		{"max-concurrent", func(s *api.ServiceSpec, n int) {
			s.Mode = api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: uint64(n), TotalCompletions: 1}}
		}, api.MaxReplicas, "max-concurrent: 100001, more than the 100000 allowed"},
		// Named as the user set it, not as replicas.
		{"total-completions", func(s *api.ServiceSpec, n int) {
			s.Mode = api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{TotalCompletions: uint64(n)}}
		}, api.MaxReplicas, "total-completions: 100001, more than the 100000 allowed"},
		{"service labels", func(s *api.ServiceSpec, n int) { s.Labels = labelMap(n, 4, 1) }, api.MaxLabels, "labels: 1001 entries, more than the 1000 allowed"},
		{"service label key", func(s *api.ServiceSpec, n int) { s.Labels = labelMap(1, n, 1) }, api.MaxNameLen, "labels: key"},
		{"service label value", func(s *api.ServiceSpec, n int) { s.Labels = labelMap(1, 4, n) }, api.MaxValueLen, "labels: value"},
		{"container labels", func(s *api.ServiceSpec, n int) { cs(s).Labels = labelMap(n, 4, 1) }, api.MaxLabels, "container labels: 1001 entries"},
		{"ports", func(s *api.ServiceSpec, n int) {
			s.EndpointSpec = &api.EndpointSpec{}
			for i := 0; i < n; i++ {
				s.EndpointSpec.Ports = append(s.EndpointSpec.Ports, api.PortConfig{TargetPort: uint32(1 + i)})
			}
		}, api.MaxPorts, "ports: 1001 entries, more than the 1000 allowed"},
		{"env", func(s *api.ServiceSpec, n int) { cs(s).Env = envList(n, 8) }, api.MaxEnv, "env: 1001 entries, more than the 1000 allowed"},
		{"env entry", func(s *api.ServiceSpec, n int) { cs(s).Env = envList(1, n) }, api.MaxValueLen, "env[0]: 65537 bytes long, more than the 65536 allowed"},
		{"args", func(s *api.ServiceSpec, n int) { cs(s).Args = strList(n-2, 2) /* and 2 in Command */ }, api.MaxArgs, "command and args: 1001 entries, more than the 1000 allowed"},
		{"argument", func(s *api.ServiceSpec, n int) { cs(s).Args = strList(1, n) }, api.MaxValueLen, "args[0]: 65537 bytes long"},
		{"mounts", func(s *api.ServiceSpec, n int) {
			for i := 0; i < n; i++ {
				cs(s).Mounts = append(cs(s).Mounts, api.Mount{Type: api.MountTmpfs, Target: fmt.Sprintf("/m%d", i)})
			}
		}, api.MaxMounts, "mounts: 101 entries, more than the 100 allowed"},
		{"mount target", func(s *api.ServiceSpec, n int) {
			cs(s).Mounts = []api.Mount{{Type: api.MountTmpfs, Target: "/" + strings.Repeat("m", n-1)}}
		}, api.MaxNameLen, "mounts[0] target: 4097 bytes long"},
		{"configs", func(s *api.ServiceSpec, n int) {
			for i := 0; i < n; i++ {
				cs(s).Configs = append(cs(s).Configs, api.ConfigReference{ConfigName: fmt.Sprintf("c%d", i)})
			}
		}, api.MaxConfigs, "configs: 101 entries, more than the 100 allowed"},
		{"secrets", func(s *api.ServiceSpec, n int) {
			for i := 0; i < n; i++ {
				cs(s).Secrets = append(cs(s).Secrets, api.SecretReference{SecretName: fmt.Sprintf("s%d", i)})
			}
		}, api.MaxSecrets, "secrets: 101 entries, more than the 100 allowed"},
		{"constraints", func(s *api.ServiceSpec, n int) {
			for i := 0; i < n; i++ {
				placement(s).Constraints = append(placement(s).Constraints, fmt.Sprintf("node.labels.k%d==v", i))
			}
		}, api.MaxConstraints, "placement constraints: 101 entries, more than the 100 allowed"},
		{"placement preferences", func(s *api.ServiceSpec, n int) {
			for i := 0; i < n; i++ {
				placement(s).Preferences = append(placement(s).Preferences, api.PlacementPreference{Spread: fmt.Sprintf("node.labels.k%d", i)})
			}
		}, api.MaxPreferences, "placement preferences: 11 entries, more than the 10 allowed"},
		{"networks", func(s *api.ServiceSpec, n int) {
			for i := 0; i < n; i++ {
				s.TaskTemplate.Networks = append(s.TaskTemplate.Networks, api.NetworkAttachment{Target: fmt.Sprintf("n%d", i)})
			}
		}, api.MaxNetworks, "networks: 101 entries, more than the 100 allowed"},
		{"network aliases", func(s *api.ServiceSpec, n int) {
			s.TaskTemplate.Networks = []api.NetworkAttachment{{Target: "n", Aliases: strList(n, 3)}}
		}, api.MaxListItems, "networks[0] aliases: 101 entries"},
		{"health check test", func(s *api.ServiceSpec, n int) {
			cs(s).Healthcheck = &api.HealthCheck{Test: append([]string{"CMD"}, strList(n-1, 2)...)}
		}, api.MaxListItems, "health check test: 101 entries, more than the 100 allowed"},
		{"image", func(s *api.ServiceSpec, n int) { cs(s).Image = strings.Repeat("i", n) }, api.MaxNameLen, "image: 4097 bytes long, more than the 4096 allowed"},
		{"hostname", func(s *api.ServiceSpec, n int) { cs(s).Hostname = strings.Repeat("h", n) }, api.MaxNameLen, "hostname: 4097 bytes long"},
		{"workdir", func(s *api.ServiceSpec, n int) { cs(s).Dir = "/" + strings.Repeat("d", n-1) }, api.MaxNameLen, "workdir: 4097 bytes long"},
		{"hosts", func(s *api.ServiceSpec, n int) { cs(s).Hosts = strList(n, 4) }, api.MaxListItems, "hosts: 101 entries"},
		{"capabilities", func(s *api.ServiceSpec, n int) { cs(s).CapAdd = strList(n, 4) }, api.MaxListItems, "capability add: 101 entries"},
		{"sysctls", func(s *api.ServiceSpec, n int) { cs(s).Sysctls = labelMap(n, 4, 1) }, api.MaxLabels, "sysctls: 1001 entries"},
		{"log driver options", func(s *api.ServiceSpec, n int) {
			s.TaskTemplate.LogDriver = &api.Driver{Name: "json-file", Options: labelMap(n, 4, 1)}
		}, api.MaxLabels, "log driver options: 1001 entries"},
	}
}

func TestValidateLimits(t *testing.T) {
	for _, tc := range limitCases() {
		t.Run(tc.name, func(t *testing.T) {
			at := validSpec()
			tc.set(&at, tc.limit)
			if err := at.Validate(); err != nil {
				t.Fatalf("at the limit (%d): Validate: %v", tc.limit, err)
			}
			over := validSpec()
			tc.set(&over, tc.limit+1)
			errs := problems(t, over.Validate())
			if len(errs) != 1 {
				t.Fatalf("one past the limit: Validate found %d problems, want 1: %v", len(errs), errs)
			}
			if !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("one past the limit: Validate = %q, want it to contain %q", errs[0], tc.want)
			}
		})
	}
}

func TestValidateSpecSize(t *testing.T) {
	s := validSpec()
	// Each entry is within its limits; together they are not.
	s.TaskTemplate.ContainerSpec.Env = envList(5, api.MaxValueLen)
	errs := problems(t, s.Validate())
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "bytes as JSON, more than the 262144 allowed") {
		t.Fatalf("Validate = %v, want the spec's size refused", errs)
	}
}

func TestValidateLabelLimits(t *testing.T) {
	if err := api.ValidateLabelLimits("config labels", labelMap(api.MaxLabels, 8, 8)); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	err := api.ValidateLabelLimits("config labels", labelMap(api.MaxLabels+1, 8, 8))
	if err == nil || err.Error() != "config labels: 1001 entries, more than the 1000 allowed" {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestValidateRejectsNegativeHealthDurations(t *testing.T) {
	neg := api.DurationPtr(-time.Second)
	for _, tc := range []struct {
		name string
		set  func(h *api.HealthCheck)
		want string
	}{
		{"interval", func(h *api.HealthCheck) { h.Interval = neg }, "health check interval -1s is negative"},
		{"timeout", func(h *api.HealthCheck) { h.Timeout = neg }, "health check timeout -1s is negative"},
		{"start period", func(h *api.HealthCheck) { h.StartPeriod = neg }, "health check start period -1s is negative"},
		{"start interval", func(h *api.HealthCheck) { h.StartInterval = neg }, "health check start interval -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			h := &api.HealthCheck{Test: []string{"CMD", "true"}}
			tc.set(h)
			s.TaskTemplate.ContainerSpec.Healthcheck = h
			errs := problems(t, s.Validate())
			if len(errs) != 1 || errs[0].Error() != tc.want {
				t.Fatalf("Validate = %v, want %q", errs, tc.want)
			}
		})
	}
	s := validSpec()
	zero := api.DurationPtr(0)
	s.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{Test: []string{"CMD", "true"}, Interval: zero, Timeout: zero, StartPeriod: zero, StartInterval: zero}
	if err := s.Validate(); err != nil {
		t.Fatalf("zero durations (the defaults): %v", err)
	}
}
