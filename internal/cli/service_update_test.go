package cli

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoalproject/shoal/api"
)

// applyUpdateArgs parses args as `service update` flags and applies them
// to spec, with no cluster involved.
func applyUpdateArgs(t *testing.T, spec api.ServiceSpec, args ...string) (api.ServiceSpec, error) {
	t.Helper()
	cmd, f := newUpdateCmd(&app{stdout: io.Discard, stderr: io.Discard})
	if err := cmd.ParseFlags(args); err != nil {
		return spec, err
	}
	return f.apply(cmd, spec)
}

// baseImageSpec is an image service with a bit of everything to change.
func baseImageSpec() api.ServiceSpec {
	hc := &api.HealthCheck{Test: []string{"CMD-SHELL", "true"}, Interval: api.DurationPtr(10 * time.Second)}
	s := api.ServiceSpec{
		Name:   "web",
		Labels: map[string]string{"team": "a", "tier": "front"},
		Mode:   api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 2}},
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{
				Image:       "nginx:1.25",
				Args:        []string{"-g", "daemon off;"},
				Env:         []string{"A=1", "B=2"},
				Labels:      map[string]string{"c": "1"},
				Healthcheck: hc,
				Secrets:     []api.SecretReference{{SecretName: "db", File: &api.FileTarget{Name: "/run/secrets/db"}}},
				Configs:     []api.ConfigReference{{ConfigName: "nginx.conf", File: &api.FileTarget{Name: "/etc/nginx/nginx.conf"}}},
			},
			Placement: &api.Placement{Constraints: []string{"node.role==worker"}, Preferences: []api.PlacementPreference{{Spread: "node.labels.zone"}}},
		},
		EndpointSpec: &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 80, PublishedPort: 8080}, {TargetPort: 443}}},
	}
	return s
}

// baseProcessSpec is a process service as `service create -- PROGRAM ARGS`
// makes it.
func baseProcessSpec() api.ServiceSpec {
	return api.ServiceSpec{
		Name: "proc",
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}},
		TaskTemplate: api.TaskSpec{ContainerSpec: api.ContainerSpec{
			Command: []string{"/usr/bin/python3", "-m", "http.server"},
		}},
	}
}

func TestApplyUpdateFlags(t *testing.T) {
	u64 := func(n uint64) *uint64 { return &n }
	for _, tc := range []struct {
		name string
		base func() api.ServiceSpec
		args []string
		// edit makes the expected spec from the base spec.
		edit func(s *api.ServiceSpec)
	}{
		{"no flags", baseImageSpec, nil, func(s *api.ServiceSpec) {}},
		{"image", baseImageSpec, []string{"--image", "nginx:1.27"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Image = "nginx:1.27"
		}},
		{"args of an image service", baseImageSpec, []string{"--args", `-c "echo hi there" x`}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Args = []string{"-c", "echo hi there", "x"}
		}},
		{"empty args", baseImageSpec, []string{"--args", ""}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Args = nil
		}},
		{"args of a process service", baseProcessSpec, []string{"--args", "-m http.server 9000"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Command = []string{"/usr/bin/python3", "-m", "http.server", "9000"}
		}},
		{"args of a process service with Args", func() api.ServiceSpec {
			s := baseProcessSpec()
			s.TaskTemplate.ContainerSpec.Command = []string{"/bin/sh", "-c"}
			s.TaskTemplate.ContainerSpec.Args = []string{"sleep 1"}
			return s
		}, []string{"--args", "'sleep 2'"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Args = []string{"sleep 2"}
		}},
		{"env add, replace and remove", baseImageSpec, []string{"--env-add", "B=3", "--env-add", "C=4", "--env-rm", "A"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"B=3", "C=4"}
		}},
		{"env add wins over rm", baseImageSpec, []string{"--env-rm", "A", "--env-add", "A=9"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Env = []string{"B=2", "A=9"}
		}},
		{"replicas", baseImageSpec, []string{"--replicas", "5"}, func(s *api.ServiceSpec) {
			s.Mode.Replicated.Replicas = 5
		}},
		{"labels", baseImageSpec, []string{"--label-add", "team=b", "--label-add", "new", "--label-rm", "tier"}, func(s *api.ServiceSpec) {
			s.Labels = map[string]string{"team": "b", "new": ""}
		}},
		{"remove the last container label", baseImageSpec, []string{"--container-label-rm", "c"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Labels = nil
		}},
		{"container labels", baseImageSpec, []string{"--container-label-add", "d=2"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Labels = map[string]string{"c": "1", "d": "2"}
		}},
		{"constraints", baseImageSpec, []string{"--constraint-add", "node.labels.zone==a", "--constraint-add", "node.role == worker", "--constraint-rm", "node.role==worker"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.Placement.Constraints = []string{"node.labels.zone==a"}
		}},
		{"placement preferences", baseImageSpec, []string{"--placement-pref-rm", "spread=node.labels.zone", "--placement-pref-add", "spread=node.labels.rack"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.Placement.Preferences = []api.PlacementPreference{{Spread: "node.labels.rack"}}
		}},
		{"empty placement goes", baseImageSpec, []string{"--placement-pref-rm", "node.labels.zone", "--constraint-rm", "node.role==worker"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.Placement = nil
		}},
		{"publish rm by target, add", baseImageSpec, []string{"--publish-rm", "443", "--publish-add", "9090:90/udp"}, func(s *api.ServiceSpec) {
			s.EndpointSpec.Ports = []api.PortConfig{{TargetPort: 80, PublishedPort: 8080}, {TargetPort: 90, PublishedPort: 9090, Protocol: "udp"}}
		}},
		{"publish rm by published:target", baseImageSpec, []string{"--publish-rm", "8080:80"}, func(s *api.ServiceSpec) {
			s.EndpointSpec.Ports = []api.PortConfig{{TargetPort: 443}}
		}},
		{"publish rm of another protocol or published port", baseImageSpec, []string{"--publish-rm", "80/udp", "--publish-rm", "9999:80"}, func(s *api.ServiceSpec) {}},
		{"publish add of an existing port", baseImageSpec, []string{"--publish-add", "8080:80/tcp"}, func(s *api.ServiceSpec) {}},
		{"remove every port", baseImageSpec, []string{"--publish-rm", "80", "--publish-rm", "443"}, func(s *api.ServiceSpec) {
			s.EndpointSpec = nil
		}},
		{"endpoint mode", baseImageSpec, []string{"--endpoint-mode", "dnsrr", "--publish-rm", "8080:80"}, func(s *api.ServiceSpec) {
			s.EndpointSpec = &api.EndpointSpec{Mode: "dnsrr", Ports: []api.PortConfig{{TargetPort: 443}}}
		}},
		{"secrets", baseImageSpec, []string{"--secret-add", "api-key", "--secret-add", "source=tls,target=/etc/tls.pem,uid=100,gid=101,mode=0400", "--secret-rm", "db"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets = []api.SecretReference{
				{SecretName: "api-key", File: &api.FileTarget{Name: "/run/secrets/api-key"}},
				{SecretName: "tls", File: &api.FileTarget{Name: "/etc/tls.pem", UID: "100", GID: "101", Mode: 0o400}},
			}
		}},
		{"secret re-added with a mode", baseImageSpec, []string{"--secret-add", "src=db,mode=440"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Secrets[0].File.Mode = 0o440
		}},
		{"configs", baseImageSpec, []string{"--config-rm", "nginx.conf", "--config-add", "app.yml"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Configs = []api.ConfigReference{{ConfigName: "app.yml", File: &api.FileTarget{Name: "/app.yml"}}}
		}},
		{"health cmd keeps the other health settings", baseImageSpec, []string{"--health-cmd", "curl -f localhost", "--health-retries", "4"}, func(s *api.ServiceSpec) {
			hc := s.TaskTemplate.ContainerSpec.Healthcheck
			hc.Test = []string{"CMD-SHELL", "curl -f localhost"}
			hc.Retries = u64(4)
		}},
		{"no healthcheck", baseImageSpec, []string{"--no-healthcheck"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{Test: []string{"NONE"}}
		}},
		{"restart policy", baseImageSpec, []string{"--restart-condition", "on-failure", "--restart-delay", "2s", "--restart-max-attempts", "3", "--restart-window", "1m"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: "on-failure", Delay: api.DurationPtr(2 * time.Second), MaxAttempts: u64(3), Window: api.DurationPtr(time.Minute)}
		}},
		{"update config", baseImageSpec, []string{"--update-parallelism", "2", "--update-delay", "10s", "--update-order", "start-first", "--update-monitor", "30s", "--update-failure-action", "rollback", "--update-max-failure-ratio", "0.25"}, func(s *api.ServiceSpec) {
			s.UpdateConfig = &api.UpdateConfig{Parallelism: 2, Delay: api.Duration(10 * time.Second), Order: "start-first", Monitor: api.Duration(30 * time.Second), FailureAction: "rollback", MaxFailureRatio: 0.25}
		}},
		{"a new update config starts at parallelism 1", baseImageSpec, []string{"--update-delay", "1s"}, func(s *api.ServiceSpec) {
			s.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Delay: api.Duration(time.Second)}
		}},
		{"update config keeps what is not given", func() api.ServiceSpec {
			s := baseImageSpec()
			s.UpdateConfig = &api.UpdateConfig{Parallelism: 3, Order: "start-first"}
			return s
		}, []string{"--update-parallelism", "0"}, func(s *api.ServiceSpec) {
			s.UpdateConfig.Parallelism = 0
		}},
		{"rollback config", baseImageSpec, []string{"--rollback-parallelism", "0", "--rollback-delay", "1s", "--rollback-order", "stop-first", "--rollback-monitor", "2s", "--rollback-failure-action", "continue", "--rollback-max-failure-ratio", "1"}, func(s *api.ServiceSpec) {
			s.RollbackConfig = &api.UpdateConfig{Parallelism: 0, Delay: api.Duration(time.Second), Order: "stop-first", Monitor: api.Duration(2 * time.Second), FailureAction: "continue", MaxFailureRatio: 1}
		}},
		{"stop, user, workdir", baseImageSpec, []string{"--stop-grace-period", "30s", "--stop-signal", "SIGINT", "-u", "www", "-w", "/srv", "--hostname", "h"}, func(s *api.ServiceSpec) {
			c := &s.TaskTemplate.ContainerSpec
			c.StopGracePeriod, c.StopSignal, c.User, c.Dir, c.Hostname = api.DurationPtr(30*time.Second), "SIGINT", "www", "/srv", "h"
		}},
		{"resources", baseImageSpec, []string{"--limit-cpu", "0.5", "--reserve-memory", "64m"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.Resources = &api.ResourceRequirements{Limits: &api.Resources{NanoCPUs: 5e8}, Reservations: &api.Resources{MemoryBytes: 64 << 20}}
		}},
		{"max replicas per node", baseImageSpec, []string{"--replicas-max-per-node", "1"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.Placement.MaxReplicas = 1
		}},
		{"force", func() api.ServiceSpec {
			s := baseImageSpec()
			s.TaskTemplate.ForceUpdate = 4
			return s
		}, []string{"--force"}, func(s *api.ServiceSpec) {
			s.TaskTemplate.ForceUpdate = 5
		}},
		{"a replicated job's completions and concurrency", baseJobSpec, []string{"--replicas", "6", "--max-concurrent", "3"}, func(s *api.ServiceSpec) {
			s.Mode = api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: 3, TotalCompletions: 6}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.base()
			before := mustJSON(t, in)
			got, err := applyUpdateArgs(t, in, tc.args...)
			if err != nil {
				t.Fatalf("apply %q: %v", tc.args, err)
			}
			if after := mustJSON(t, in); after != before {
				t.Errorf("apply changed its input spec:\n%s\nwas\n%s", after, before)
			}
			want := tc.base()
			tc.edit(&want)
			if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
				t.Errorf("apply %q:\n got %s\nwant %s", tc.args, g, w)
			}
			if wantSame := mustJSON(t, want) == before; api.SameJSON(got, in) != wantSame {
				t.Errorf("api.SameJSON = %v, want %v", !wantSame, wantSame)
			}
		})
	}
}

func TestApplyUpdateFlagErrors(t *testing.T) {
	global := func() api.ServiceSpec {
		s := baseImageSpec()
		s.Mode = api.ServiceMode{Global: &api.GlobalService{}}
		return s
	}
	for _, tc := range []struct {
		name string
		base func() api.ServiceSpec
		args []string
		want string
	}{
		{"replicas of a global service", global, []string{"--replicas", "2"}, "--replicas can only be used with replicated mode"},
		{"max-concurrent of a service", baseImageSpec, []string{"--max-concurrent", "2"}, "--max-concurrent can only be used with a replicated job"},
		{"max-concurrent 0", baseJobSpec, []string{"--max-concurrent", "0"}, "--max-concurrent 0 would never run the job"},
		{"image of a process service", baseProcessSpec, []string{"--image", "nginx"}, "invalid --image: service proc runs a program, not an image"},
		{"empty image", baseImageSpec, []string{"--image", ""}, "invalid --image"},
		{"unbalanced args", baseImageSpec, []string{"--args", `"open`}, "invalid --args"},
		{"env without key", baseImageSpec, []string{"--env-add", "=x"}, `invalid --env-add "=x"`},
		{"label without key", baseImageSpec, []string{"--label-add", "=x"}, `invalid --label-add "=x"`},
		{"bad constraint", baseImageSpec, []string{"--constraint-add", "node.role"}, `invalid --constraint-add "node.role"`},
		{"bad placement pref", baseImageSpec, []string{"--placement-pref-add", "pack=node.labels.x"}, `invalid --placement-pref-add "pack=node.labels.x"`},
		{"bad publish-add", baseImageSpec, []string{"--publish-add", "http"}, `invalid --publish-add "http"`},
		{"bad publish-rm", baseImageSpec, []string{"--publish-rm", "80:x"}, `invalid --publish-rm "80:x"`},
		{"bad endpoint mode", baseImageSpec, []string{"--endpoint-mode", "rr"}, `invalid --endpoint-mode "rr": want vip or dnsrr`},
		{"secret without source", baseImageSpec, []string{"--secret-add", "target=/x"}, `invalid --secret-add "target=/x": missing source`},
		{"secret with a bad mode", baseImageSpec, []string{"--secret-add", "source=x,mode=rw"}, `invalid --secret-add "source=x,mode=rw"`},
		{"secret on another's target", baseImageSpec, []string{"--secret-add", "source=other,target=/run/secrets/db"}, `secret "db" already uses target /run/secrets/db`},
		{"config with an unknown field", baseImageSpec, []string{"--config-add", "source=x,owner=me"}, `unknown field "owner"`},
		{"health none and cmd", baseImageSpec, []string{"--no-healthcheck", "--health-cmd", "true"}, "--no-healthcheck conflicts"},
		{"restart condition", baseImageSpec, []string{"--restart-condition", "sometimes"}, `invalid --restart-condition "sometimes"`},
		{"negative restart delay", baseImageSpec, []string{"--restart-delay", "-1s"}, "invalid --restart-delay -1s"},
		{"update order", baseImageSpec, []string{"--update-order", "sideways"}, `invalid --update-order "sideways": want stop-first or start-first`},
		{"update failure action", baseImageSpec, []string{"--update-failure-action", "panic"}, `invalid --update-failure-action "panic"`},
		{"rollback failure action rollback", baseImageSpec, []string{"--rollback-failure-action", "rollback"}, `invalid --rollback-failure-action "rollback": want pause or continue`},
		{"ratio above 1", baseImageSpec, []string{"--update-max-failure-ratio", "1.5"}, "invalid --update-max-failure-ratio 1.5: want a number from 0 to 1"},
		{"negative ratio", baseImageSpec, []string{"--rollback-max-failure-ratio", "-0.1"}, "invalid --rollback-max-failure-ratio -0.1"},
		{"ratio not a number", baseImageSpec, []string{"--update-max-failure-ratio", "half"}, `invalid argument "half" for "--update-max-failure-ratio"`},
		{"delay not a duration", baseImageSpec, []string{"--update-delay", "soon"}, `invalid argument "soon" for "--update-delay"`},
		{"negative monitor", baseImageSpec, []string{"--update-monitor", "-5s"}, "invalid --update-monitor -5s: must not be negative"},
		{"negative stop grace", baseImageSpec, []string{"--stop-grace-period", "-1s"}, "invalid --stop-grace-period"},
		{"negative health interval", baseImageSpec, []string{"--health-interval", "-1s"}, "--health-interval must not be negative"},
		{"negative health timeout", baseImageSpec, []string{"--health-timeout", "-1s"}, "--health-timeout must not be negative"},
		{"negative health start period", baseImageSpec, []string{"--health-start-period", "-1s"}, "--health-start-period must not be negative"},
		{"negative health start interval", baseImageSpec, []string{"--health-start-interval", "-1s"}, "--health-start-interval must not be negative"},
		{"bad cpu", baseImageSpec, []string{"--limit-cpu", "lots"}, `invalid --limit-cpu "lots"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := applyUpdateArgs(t, tc.base(), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("apply %q: error %v, want one saying %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestParseFileRef(t *testing.T) {
	for _, tc := range []struct {
		kind, in string
		want     fileRef
	}{
		{"secret", "db", fileRef{Name: "db", File: api.FileTarget{Name: "/run/secrets/db"}}},
		{"config", "app.yml", fileRef{Name: "app.yml", File: api.FileTarget{Name: "/app.yml"}}},
		{"secret", "source=db,target=db.pw", fileRef{Name: "db", File: api.FileTarget{Name: "db.pw"}}},
		{"config", "src=c,target=/etc/c,uid=0,gid=0,mode=0644", fileRef{Name: "c", File: api.FileTarget{Name: "/etc/c", UID: "0", GID: "0", Mode: 0o644}}},
	} {
		got, err := parseFileRef(tc.kind, tc.kind, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseFileRef(%s, %q) = %+v, %v; want %+v", tc.kind, tc.in, got, err, tc.want)
		}
	}
}

// TestCreateUpdateFlags checks the --update-*, --rollback-*, --secret and
// --config flags of service create.
func TestCreateUpdateFlags(t *testing.T) {
	cmd := &cobra.Command{Use: "create"}
	f := &serviceFlags{}
	f.add(cmd.Flags())
	args := []string{"--name", "x", "--update-parallelism", "3", "--update-order", "start-first", "--rollback-monitor", "9s",
		"--secret", "db", "--config", "source=app,target=/etc/app.yml", "--endpoint-mode", "dnsrr", "--network", "front", "--network", "back",
		"--", "sleep", "1"}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	spec, err := f.spec(cmd, cmd.Flags().Args())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(t, spec.UpdateConfig), mustJSON(t, &api.UpdateConfig{Parallelism: 3, Order: "start-first"}); got != want {
		t.Errorf("UpdateConfig = %s, want %s", got, want)
	}
	if got, want := mustJSON(t, spec.RollbackConfig), mustJSON(t, &api.UpdateConfig{Parallelism: 1, Monitor: api.Duration(9 * time.Second)}); got != want {
		t.Errorf("RollbackConfig = %s, want %s", got, want)
	}
	c := spec.TaskTemplate.ContainerSpec
	if got, want := mustJSON(t, c.Secrets), `[{"SecretName":"db","File":{"Name":"/run/secrets/db"}}]`; got != want {
		t.Errorf("Secrets = %s, want %s", got, want)
	}
	if got, want := mustJSON(t, c.Configs), `[{"ConfigName":"app","File":{"Name":"/etc/app.yml"}}]`; got != want {
		t.Errorf("Configs = %s, want %s", got, want)
	}
	if got, want := mustJSON(t, spec.EndpointSpec), `{"Mode":"dnsrr"}`; got != want {
		t.Errorf("EndpointSpec = %s, want %s", got, want)
	}
	if got, want := mustJSON(t, spec.TaskTemplate.Networks), `[{"Target":"front"},{"Target":"back"}]`; got != want {
		t.Errorf("Networks = %s, want %s", got, want)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// baseJobSpec is a replicated job of 2 completions, 2 at once.
func baseJobSpec() api.ServiceSpec {
	s := baseProcessSpec()
	s.Mode = api.ServiceMode{ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: 2, TotalCompletions: 2}}
	return s
}
