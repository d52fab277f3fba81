package dockerapi

import (
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/swarm"

	"github.com/shoalproject/shoal/api"
)

func dur(d time.Duration) *api.Duration { v := api.Duration(d); return &v }

// fullSpec sets every field of a service spec that the Docker API
// carries.
func fullSpec() api.ServiceSpec {
	three, retries := uint64(3), uint64(4)
	init := true
	return api.ServiceSpec{
		Name:   "web",
		Labels: map[string]string{"com.docker.stack.namespace": "app", "traefik.enable": "true"},
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{
				Image: "app:1", Labels: map[string]string{"c": "1"}, Command: []string{"/app"}, Args: []string{"serve"},
				Hostname: "h", Env: []string{"A=1"}, Dir: "/w", User: "1000", StopSignal: "SIGINT",
				StopGracePeriod: dur(3 * time.Second),
				Healthcheck: &api.HealthCheck{Test: []string{"CMD", "/app", "health"}, Interval: dur(time.Second),
					Timeout: dur(2 * time.Second), Retries: &retries, StartPeriod: dur(5 * time.Second), StartInterval: dur(time.Second)},
				Configs: []api.ConfigReference{{ConfigName: "cfg", ConfigID: "c1", File: &api.FileTarget{Name: "/etc/cfg", UID: "0", GID: "0", Mode: 0o444}}},
				Secrets: []api.SecretReference{{SecretName: "sec", SecretID: "s1", File: &api.FileTarget{Name: "sec", UID: "0", GID: "0", Mode: 0o400}}},
				Mounts: []api.Mount{
					{Type: api.MountVolume, Source: "data", Target: "/data", VolumeLabels: map[string]string{"v": "1"}},
					{Type: api.MountTmpfs, Target: "/tmp", TmpfsSize: 1 << 20, TmpfsMode: 0o1777},
					{Type: api.MountBind, Source: "/srv", Target: "/srv", ReadOnly: true},
				},
				Init: &init, ReadOnly: true, CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"MKNOD"},
				Sysctls: map[string]string{"net.core.somaxconn": "1024"}, Ulimits: []api.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
				Hosts:     []string{"10.0.0.1 db"},
				DNSConfig: &api.DNSConfig{Nameservers: []string{"10.0.0.2"}, Search: []string{"example.org"}, Options: []string{"ndots:2"}},
			},
			Resources: &api.ResourceRequirements{Limits: &api.Resources{NanoCPUs: 5e8, MemoryBytes: 64 << 20},
				Reservations: &api.Resources{NanoCPUs: 1e8, MemoryBytes: 32 << 20}},
			RestartPolicy: &api.RestartPolicy{Condition: api.RestartConditionOnFailure, Delay: dur(time.Second), MaxAttempts: &three, Window: dur(time.Minute)},
			Placement: &api.Placement{Constraints: []string{"node.role==worker"}, Preferences: []api.PlacementPreference{{Spread: "node.labels.zone"}},
				MaxReplicas: 2},
			ForceUpdate: 7,
			Networks:    []api.NetworkAttachment{{Target: "appnet", Aliases: []string{"web"}}},
			LogDriver:   &api.Driver{Name: "json-file", Options: map[string]string{"max-size": "1m"}},
		},
		Mode: api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 3}},
		UpdateConfig: &api.UpdateConfig{Parallelism: 2, Delay: api.Duration(time.Second), FailureAction: api.FailureActionRollback,
			Monitor: api.Duration(5 * time.Second), MaxFailureRatio: 0.5, Order: api.UpdateOrderStartFirst},
		RollbackConfig: &api.UpdateConfig{Parallelism: 1, Order: api.UpdateOrderStopFirst},
		EndpointSpec: &api.EndpointSpec{Mode: api.EndpointModeVIP, Ports: []api.PortConfig{
			{Name: "http", Protocol: "tcp", TargetPort: 8080, PublishedPort: 80, PublishMode: api.PublishModeIngress}}},
	}
}

// Every field shoal supports survives Docker's shape and back unchanged,
// in each mode.
func TestServiceSpecRoundTrip(t *testing.T) {
	modes := map[string]api.ServiceMode{
		"replicated":     {Replicated: &api.ReplicatedService{Replicas: 3}},
		"global":         {Global: &api.GlobalService{}},
		"replicated-job": {ReplicatedJob: &api.ReplicatedJob{MaxConcurrent: 2, TotalCompletions: 5}},
		"global-job":     {GlobalJob: &api.GlobalJob{}},
	}
	for name, mode := range modes {
		t.Run(name, func(t *testing.T) {
			want := fullSpec()
			want.Mode = mode
			got, err := serviceSpecIn(serviceSpecOut(want))
			if err != nil {
				t.Fatalf("in: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the spec:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// A replicated service without a count gets Docker's default of one.
func TestReplicatedWithoutCountIsOne(t *testing.T) {
	got, err := serviceSpecIn(swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "x"},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "a"}}, Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{}}})
	if err != nil || got.Mode.Replicated == nil || got.Mode.Replicated.Replicas != 1 {
		t.Fatalf("%+v %v, want 1 replica", got.Mode, err)
	}
}

// What shoal cannot honour is refused, every such field named, never
// dropped.
func TestUnsupportedFieldsAreNamed(t *testing.T) {
	spec := swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "x"}, TaskTemplate: swarm.TaskSpec{
		ContainerSpec: &swarm.ContainerSpec{Image: "a", TTY: true, Groups: []string{"g"},
			Privileges: &swarm.Privileges{NoNewPrivileges: true}, Isolation: container.IsolationHyperV},
		Runtime:   swarm.RuntimePlugin,
		Resources: &swarm.ResourceRequirements{Limits: &swarm.Limit{Pids: 10}},
	}}
	_, err := serviceSpecIn(spec)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, f := range []string{"ContainerSpec.TTY", "ContainerSpec.Groups", "ContainerSpec.Privileges", "ContainerSpec.Isolation", "TaskTemplate.Runtime", "Resources.Limits.Pids"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
	// The CLI's empty defaults are no request.
	if _, err := serviceSpecIn(swarm.ServiceSpec{TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "a",
		Privileges: &swarm.Privileges{}, Isolation: container.IsolationDefault}, Runtime: swarm.RuntimeContainer,
		Resources: &swarm.ResourceRequirements{Limits: &swarm.Limit{}, Reservations: &swarm.Resources{}}, Placement: &swarm.Placement{}}}); err != nil {
		t.Errorf("the CLI's defaults refused: %v", err)
	}
}

func TestFilters(t *testing.T) {
	for _, tc := range []struct {
		raw     string
		want    filters
		wantErr string
	}{
		{raw: `{"name":{"web":true,"api":true}}`, want: filters{"name": {"api", "web"}}},
		{raw: `{"name":["web"]}`, want: filters{"name": {"web"}}},
		{raw: `{"label":{"a=b":true,"off":false}}`, want: filters{"label": {"a=b"}}},
		{raw: `{"color":{"red":true}}`, wantErr: "Invalid filter 'color'"},
		{raw: `[1]`, wantErr: "not a JSON object"},
	} {
		r := httptest.NewRequest("GET", "/services?filters="+url.QueryEscape(tc.raw), nil)
		got, err := parseFilters(r, "name", "label")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v, want %q", tc.raw, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.raw, got, err, tc.want)
		}
	}
	f := filters{"label": {"a=b", "c"}, "name": {"we"}}
	if !f.matchLabels(map[string]string{"a": "b", "c": ""}) || f.matchLabels(map[string]string{"a": "x", "c": ""}) || f.matchLabels(map[string]string{"a": "b"}) {
		t.Error("label filter: want k=v equal and k present")
	}
	if !f.matchPrefix("name", "web") || f.matchPrefix("name", "api") || !f.match("mode", "global") {
		t.Error("name is a prefix filter, an unset key matches all")
	}
}

// The filter parser takes any query without panicking, and what it
// accepts names only allowed keys.
func FuzzParseFilters(f *testing.F) {
	for _, s := range []string{`{"name":{"a":true}}`, `{"name":["a"]}`, `{}`, `{"x":1}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/tasks?filters="+url.QueryEscape(raw), nil)
		got, err := parseFilters(r, "name", "service")
		if err != nil {
			return
		}
		for k := range got {
			if k != "name" && k != "service" {
				t.Fatalf("accepted key %q", k)
			}
		}
	})
}

func TestVersionedPaths(t *testing.T) {
	s := New(nil, nil)
	for path, code := range map[string]int{"/_ping": 200, "/v1.41/_ping": 200, "/v1.47/_ping": 200, "/v1.40/_ping": 400, "/v1.99/_ping": 400, "/v1.47/containers/json": 501} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != code {
			t.Errorf("GET %s: %d, want %d (%s)", path, rec.Code, code, rec.Body)
		}
		if rec.Header().Get("Api-Version") != APIVersion {
			t.Errorf("GET %s: Api-Version %q", path, rec.Header().Get("Api-Version"))
		}
	}
}
