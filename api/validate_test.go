package api_test

import (
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// validSpec is a spec that passes Validate; each case changes one thing.
func validSpec() api.ServiceSpec {
	return api.ServiceSpec{
		Name: "web",
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}},
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{Command: []string{"/bin/sleep", "60"}},
		},
	}
}

// problems returns the joined errors of Validate, one per problem.
func problems(t *testing.T, err error) []error {
	t.Helper()
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate error %T is not an errors.Join: %v", err, err)
	}
	return j.Unwrap()
}

func TestValidateAcceptsValidSpecs(t *testing.T) {
	cases := map[string]func(s *api.ServiceSpec){
		"plain":         func(s *api.ServiceSpec) {},
		"stack name":    func(s *api.ServiceSpec) { s.Name = "mystack_web" },
		"dashed name":   func(s *api.ServiceSpec) { s.Name = "my-web-2" },
		"63 char name":  func(s *api.ServiceSpec) { s.Name = strings.Repeat("a", 63) },
		"global":        func(s *api.ServiceSpec) { s.Mode = api.ServiceMode{Global: &api.GlobalService{}} },
		"zero replicas": func(s *api.ServiceSpec) { s.Mode.Replicated.Replicas = 0 },
		"image only": func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec = api.ContainerSpec{Image: "nginx:alpine"}
		},
		"image with empty command": func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec = api.ContainerSpec{Image: "nginx", Command: []string{""}}
		},
		"env": func(s *api.ServiceSpec) { s.TaskTemplate.ContainerSpec.Env = []string{"A=1", "B=", "C"} },
		"stop signal": func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.StopSignal = "SIGINT"
			s.TaskTemplate.ContainerSpec.StopGracePeriod = api.DurationPtr(0)
		},
		"restart policy": func(s *api.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: "on-failure", Delay: api.DurationPtr(0), Window: api.DurationPtr(5e9)}
		},
		"ports": func(s *api.ServiceSpec) {
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{
				{TargetPort: 80, PublishedPort: 8080},
				{TargetPort: 53, PublishedPort: 8080, Protocol: "udp"}, // another protocol: no clash
				{TargetPort: 65535, Protocol: "tcp", PublishMode: "host"},
				{TargetPort: 81}, {TargetPort: 82}, // unpublished ports never clash
			}}
		},
		"update config": func(s *api.ServiceSpec) {
			s.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Order: "start-first", FailureAction: "rollback", MaxFailureRatio: 1}
			s.RollbackConfig = &api.UpdateConfig{Order: "stop-first", FailureAction: "continue"}
		},
		"constraints": func(s *api.ServiceSpec) {
			s.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.role==manager", "node.labels.Zone != east"}}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := validSpec()
			mutate(&s)
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateRejectsEachProblem(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *api.ServiceSpec)
		want   string
	}{
		{"empty name", func(s *api.ServiceSpec) { s.Name = "" }, "service name is empty"},
		{"name with a dot", func(s *api.ServiceSpec) { s.Name = "web.app" }, `invalid service name "web.app": use letters`},
		{"name with a space", func(s *api.ServiceSpec) { s.Name = "we b" }, `invalid service name "we b"`},
		{"name starting with a dash", func(s *api.ServiceSpec) { s.Name = "-web" }, `invalid service name "-web"`},
		{"name ending with an underscore", func(s *api.ServiceSpec) { s.Name = "web_" }, `invalid service name "web_"`},
		{"64 char name", func(s *api.ServiceSpec) { s.Name = strings.Repeat("a", 64) }, "longer than 63 characters"},
		{"both modes", func(s *api.ServiceSpec) { s.Mode.Global = &api.GlobalService{} }, "mode: set one of replicated, global, replicated-job and global-job, not several"},
		{"no mode", func(s *api.ServiceSpec) { s.Mode = api.ServiceMode{} }, "mode: missing (replicated, global, replicated-job or global-job)"},
		{"a service and a job", func(s *api.ServiceSpec) { s.Mode.GlobalJob = &api.GlobalJob{} }, "mode: set one of replicated, global, replicated-job and global-job, not several"},
		{"no image and no command", func(s *api.ServiceSpec) { s.TaskTemplate.ContainerSpec.Command = nil }, "no image and no command"},
		{"empty program", func(s *api.ServiceSpec) { s.TaskTemplate.ContainerSpec.Command = []string{"", "x"} }, "command: the program name is empty"},
		{"negative stop grace", func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.StopGracePeriod = api.DurationPtr(-1e9)
		}, "stop grace period -1s is negative"},
		{"bad stop signal", func(s *api.ServiceSpec) { s.TaskTemplate.ContainerSpec.StopSignal = "SIGNOPE" }, `invalid stop signal "SIGNOPE"`},
		{"env without name", func(s *api.ServiceSpec) { s.TaskTemplate.ContainerSpec.Env = []string{"=x"} }, `env "=x": missing variable name`},
		{"empty env", func(s *api.ServiceSpec) { s.TaskTemplate.ContainerSpec.Env = []string{""} }, `env "": missing variable name`},
		{"bad restart condition", func(s *api.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: "always"}
		}, `restart condition "always": want any, on-failure or none`},
		{"negative restart delay", func(s *api.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &api.RestartPolicy{Delay: api.DurationPtr(-2e9)}
		}, "restart delay -2s is negative"},
		{"negative restart window", func(s *api.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &api.RestartPolicy{Window: api.DurationPtr(-3e9)}
		}, "restart window -3s is negative"},
		{"negative resources", func(s *api.ServiceSpec) {
			s.TaskTemplate.Resources = &api.ResourceRequirements{Limits: &api.Resources{MemoryBytes: -1}}
		}, "resources: negative amount"},
		{"target port 0", func(s *api.ServiceSpec) {
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 0}}}
		}, "port 0: target port must be 1-65535"},
		{"target port too big", func(s *api.ServiceSpec) {
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 65536}}}
		}, "port 65536: target port must be 1-65535"},
		{"published port too big", func(s *api.ServiceSpec) {
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 70000}}}
		}, "port 70000: published port must be 1-65535"},
		{"bad protocol", func(s *api.ServiceSpec) {
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, Protocol: "sctp"}}}
		}, `port 80: protocol "sctp": want tcp or udp`},
		{"bad publish mode", func(s *api.ServiceSpec) {
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishMode: "mesh"}}}
		}, `port 80: mode "mesh": want ingress or host`},
		{"duplicate published port", func(s *api.ServiceSpec) {
			// "" and "tcp" are the same protocol.
			s.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{
				{TargetPort: 80, PublishedPort: 8080},
				{TargetPort: 81, PublishedPort: 8080, Protocol: "tcp"},
			}}
		}, "published port 8080/tcp is used twice"},
		{"bad update order", func(s *api.ServiceSpec) { s.UpdateConfig = &api.UpdateConfig{Order: "random"} }, `update order "random"`},
		{"bad update failure action", func(s *api.ServiceSpec) {
			s.UpdateConfig = &api.UpdateConfig{FailureAction: "panic"}
		}, `update failure action "panic"`},
		{"update ratio above 1", func(s *api.ServiceSpec) {
			s.UpdateConfig = &api.UpdateConfig{MaxFailureRatio: 1.5}
		}, "update max failure ratio 1.5: want a number from 0 to 1"},
		{"negative update ratio", func(s *api.ServiceSpec) {
			s.UpdateConfig = &api.UpdateConfig{MaxFailureRatio: -0.1}
		}, "update max failure ratio -0.1"},
		{"bad rollback config", func(s *api.ServiceSpec) { s.RollbackConfig = &api.UpdateConfig{Order: "sideways"} }, `update order "sideways"`},
		{"constraint without operator", func(s *api.ServiceSpec) {
			s.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.platform.os = linux"}}
		}, `constraint "node.platform.os = linux": want KEY==VALUE or KEY!=VALUE`},
		{"constraint with unknown key", func(s *api.ServiceSpec) {
			s.TaskTemplate.Placement = &api.Placement{Constraints: []string{"node.colour==red"}}
		}, `unknown key "node.colour"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpec()
			tc.mutate(&s)
			errs := problems(t, s.Validate())
			if len(errs) != 1 {
				t.Fatalf("Validate found %d problems, want 1: %v", len(errs), errs)
			}
			if !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("Validate = %q, want it to contain %q", errs[0], tc.want)
			}
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	s := api.ServiceSpec{
		Name: "bad name",
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{}, Global: &api.GlobalService{}},
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{Env: []string{"=oops"}, StopGracePeriod: api.DurationPtr(-1)},
			RestartPolicy: &api.RestartPolicy{Condition: "sometimes"},
			Placement:     &api.Placement{Constraints: []string{"node.nope==1", "node.role==worker"}},
		},
		EndpointSpec: &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 0, Protocol: "icmp"}}},
		UpdateConfig: &api.UpdateConfig{Order: "x", FailureAction: "y", MaxFailureRatio: 2},
	}
	err := s.Validate()
	want := []string{
		"invalid service name",
		"not several",
		"no image and no command",
		"stop grace period",
		"missing variable name",
		`restart condition "sometimes"`,
		"target port must be 1-65535",
		`protocol "icmp"`,
		`update failure action "y"`,
		`update order "x"`,
		"max failure ratio 2",
		`unknown key "node.nope"`,
	}
	errs := problems(t, err)
	if len(errs) != len(want) {
		t.Errorf("Validate found %d problems, want %d:\n%v", len(errs), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate error lacks %q:\n%v", w, err)
		}
	}
}

func TestValidateNameStandalone(t *testing.T) {
	if err := api.ValidateName("node", ""); err == nil || err.Error() != "node name is empty" {
		t.Errorf("ValidateName(node, \"\") = %v", err)
	}
	if err := api.ValidateName("service", "A1_b-2"); err != nil {
		t.Errorf("ValidateName: %v", err)
	}
	if err := api.ValidateName("service", "a__b"); err != nil {
		t.Errorf("a__b: %v (repeated joiners are allowed)", err)
	}
}

func TestParseSignal(t *testing.T) {
	good := map[string]int{
		"SIGTERM": 15, "TERM": 15, "term": 15, "sigterm": 15, "SigKill": 9,
		"INT": 2, "HUP": 1, "QUIT": 3, "USR1": 10, "USR2": 12, "WINCH": 28, "PWR": 30,
		"15": 15, "9": 9, "1": 1, "64": 64,
	}
	for in, want := range good {
		got, err := api.ParseSignal(in)
		if err != nil || int(got) != want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "SIG", "NOPE", "SIGNOPE", "0", "65", "-1", "15abc", "9 ", "1.5"} {
		if got, err := api.ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) = %d, want an error", in, got)
		} else if !strings.Contains(err.Error(), "invalid stop signal") {
			t.Errorf("ParseSignal(%q) error = %q", in, err)
		}
	}
}

// The signal table holds Linux's numbers whatever platform built it.
func TestSignalNumbersAreLinuxs(t *testing.T) {
	for name, want := range map[string]int{"SIGHUP": 1, "INT": 2, "SIGKILL": 9, "USR1": 10, "SIGUSR2": 12, "TERM": 15, "SIGSTOP": 19, "WINCH": 28, "PWR": 30, "15": 15} {
		got, err := api.ParseSignal(name)
		if err != nil || int(got) != want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", name, got, err, want)
		}
	}
}
