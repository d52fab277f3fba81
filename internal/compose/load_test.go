package compose

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// writeDir writes files (name → content) into a new directory.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadYAML loads one compose file as stack "st".
func loadYAML(t *testing.T, yml string, env map[string]string) (*Stack, error) {
	t.Helper()
	dir := writeDir(t, map[string]string{"stack.yml": yml})
	return Load(context.Background(), Options{Files: []string{filepath.Join(dir, "stack.yml")}, Project: "st", Env: env})
}

func mustLoad(t *testing.T, yml string) *Stack {
	t.Helper()
	st, err := loadYAML(t, yml, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func service(t *testing.T, st *Stack, name string) api.ServiceSpec {
	t.Helper()
	for _, s := range st.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no service %s in %v", name, st.Services)
	return api.ServiceSpec{}
}

func dur(s string) *api.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return api.DurationPtr(d)
}

func u64(n uint64) *uint64 { return &n }

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}

var ns = map[string]string{api.StackNamespaceLabel: "st"}

func TestMapping(t *testing.T) {
	tests := []struct {
		name  string
		yml   string
		env   map[string]string
		check func(t *testing.T, st *Stack)
	}{
		{
			name: "image, command, entrypoint, user, dirs, signal",
			yml: `
services:
  web:
    image: nginx:1.25
    command: nginx -g "daemon off;"
    entrypoint: ["/docker-entrypoint.sh"]
    user: "101:101"
    working_dir: /srv
    hostname: web-host
    stop_signal: SIGQUIT
    stop_grace_period: 1m30s
    init: true
    read_only: true
    tty: true
`,
			check: func(t *testing.T, st *Stack) {
				s := service(t, st, "st_web")
				c := s.TaskTemplate.ContainerSpec
				eq(t, "image", c.Image, "nginx:1.25")
				eq(t, "args", c.Args, []string{"nginx", "-g", "daemon off;"})
				eq(t, "command", c.Command, []string{"/docker-entrypoint.sh"})
				eq(t, "user", c.User, "101:101")
				eq(t, "dir", c.Dir, "/srv")
				eq(t, "hostname", c.Hostname, "web-host")
				eq(t, "stop signal", c.StopSignal, "SIGQUIT")
				eq(t, "grace", c.StopGracePeriod, dur("90s"))
				eq(t, "init", *c.Init, true)
				eq(t, "read only", c.ReadOnly, true)
				eq(t, "tty", c.TTY, true)
				eq(t, "mode", s.Mode, api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 1}})
				eq(t, "restart policy", s.TaskTemplate.RestartPolicy, (*api.RestartPolicy)(nil))
			},
		},
		{
			name: "environment sorted, resolved from the caller, unset ones left out",
			env:  map[string]string{"FROM_CALLER": "yes"},
			yml: `
services:
  web:
    image: x
    environment:
      - B=2
      - A=1
      - FROM_CALLER
      - NOT_SET
      - EMPTY=
`,
			check: func(t *testing.T, st *Stack) {
				eq(t, "env", service(t, st, "st_web").TaskTemplate.ContainerSpec.Env,
					[]string{"A=1", "B=2", "EMPTY=", "FROM_CALLER=yes"})
			},
		},
		{
			name: "environment mapping and env_file",
			yml: `
services:
  web:
    image: x
    env_file: web.env
    environment:
      Z: last
      A: "01"
`,
			check: func(t *testing.T, st *Stack) {
				eq(t, "env", service(t, st, "st_web").TaskTemplate.ContainerSpec.Env,
					[]string{"A=01", "FILE_VAR=from file", "Z=last"})
			},
		},
		{
			name: "labels: service labels on the container, deploy labels on the service",
			yml: `
services:
  web:
    image: x
    labels:
      role: frontend
    deploy:
      labels:
        - "traefik.http.routers.web.rule=Host(` + "`a.example`" + `) && PathPrefix(` + "`/x`" + `)"
        - "traefik.http.services.web.loadbalancer.server.port=80"
`,
			check: func(t *testing.T, st *Stack) {
				s := service(t, st, "st_web")
				eq(t, "container labels", s.TaskTemplate.ContainerSpec.Labels,
					map[string]string{"role": "frontend", api.StackNamespaceLabel: "st"})
				eq(t, "service labels", s.Labels, map[string]string{
					"traefik.http.routers.web.rule":                      "Host(`a.example`) && PathPrefix(`/x`)",
					"traefik.http.services.web.loadbalancer.server.port": "80",
					api.StackImageLabel:                                  "x",
					api.StackNamespaceLabel:                              "st"})
			},
		},
		{
			name: "healthcheck forms",
			yml: `
services:
  cmd:
    image: x
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost"]
      interval: 10s
      timeout: 3s
      retries: 5
      start_period: 40s
      start_interval: 2s
  shell:
    image: x
    healthcheck:
      test: curl -f http://localhost || exit 1
  none:
    image: x
    healthcheck:
      test: ["NONE"]
  disabled:
    image: x
    healthcheck:
      disable: true
  timing:
    image: x
    healthcheck:
      interval: 10s
`,
			check: func(t *testing.T, st *Stack) {
				eq(t, "cmd", service(t, st, "st_cmd").TaskTemplate.ContainerSpec.Healthcheck, &api.HealthCheck{
					Test: []string{"CMD", "curl", "-f", "http://localhost"}, Interval: dur("10s"), Timeout: dur("3s"),
					Retries: u64(5), StartPeriod: dur("40s"), StartInterval: dur("2s")})
				eq(t, "shell", service(t, st, "st_shell").TaskTemplate.ContainerSpec.Healthcheck, &api.HealthCheck{
					Test: []string{"CMD-SHELL", "curl -f http://localhost || exit 1"}})
				eq(t, "none", service(t, st, "st_none").TaskTemplate.ContainerSpec.Healthcheck, &api.HealthCheck{Test: []string{"NONE"}})
				eq(t, "disabled", service(t, st, "st_disabled").TaskTemplate.ContainerSpec.Healthcheck, &api.HealthCheck{Test: []string{"NONE"}})
				// Unset fields stay nil, so the image's values apply.
				eq(t, "timing only", service(t, st, "st_timing").TaskTemplate.ContainerSpec.Healthcheck, &api.HealthCheck{Interval: dur("10s")})
			},
		},
		{
			name: "configs and secrets: default, relative and Windows targets, owners, names",
			yml: `
services:
  web:
    image: x
    configs:
      - app
      - source: app
        target: etc/app.conf
      - source: ext
        target: C:\web-app\config\log4net.config
        uid: "1000"
        gid: "1001"
        mode: 0440
    secrets:
      - db
      - source: db
        target: db.txt
      - source: named
        target: /etc/named
configs:
  app:
    file: app.conf
  ext:
    external: true
    name: shared-log4net
secrets:
  db:
    environment: DB_PASSWORD
  named:
    file: app.conf
    name: my-named-secret
    labels:
      team: a
`,
			env: map[string]string{"DB_PASSWORD": "s3cret"},
			check: func(t *testing.T, st *Stack) {
				c := service(t, st, "st_web").TaskTemplate.ContainerSpec
				eq(t, "configs", c.Configs, []api.ConfigReference{
					{ConfigName: "st_app", File: &api.FileTarget{Name: "/app"}},
					{ConfigName: "st_app", File: &api.FileTarget{Name: "/etc/app.conf"}},
					{ConfigName: "shared-log4net", File: &api.FileTarget{Name: `C:\web-app\config\log4net.config`, UID: "1000", GID: "1001", Mode: 0o440}},
				})
				eq(t, "secrets", c.Secrets, []api.SecretReference{
					{SecretName: "st_db", File: &api.FileTarget{Name: "/run/secrets/db"}},
					{SecretName: "st_db", File: &api.FileTarget{Name: "/run/secrets/db.txt"}},
					{SecretName: "my-named-secret", File: &api.FileTarget{Name: "/etc/named"}},
				})
				if len(st.Configs) != 2 || len(st.Secrets) != 2 {
					t.Fatalf("configs %+v secrets %+v", st.Configs, st.Secrets)
				}
				app := st.Configs[0]
				eq(t, "app config", []any{app.Key, app.Name, app.External, string(app.Data), app.Labels},
					[]any{"app", "st_app", false, "log_level: debug\n", ns})
				eq(t, "external config", st.Configs[1], StackObject{Key: "ext", Name: "shared-log4net", External: true})
				db := st.Secrets[0]
				eq(t, "db secret", []any{db.Name, string(db.Data), db.Source}, []any{"st_db", "s3cret", "env:DB_PASSWORD"})
				named := st.Secrets[1]
				eq(t, "named secret", []any{named.Name, named.Labels}, []any{"my-named-secret",
					map[string]string{"team": "a", api.StackNamespaceLabel: "st"}})
				eq(t, "secret spec", named.SecretSpec().Name, "my-named-secret")
			},
		},
		{
			name: "ports: short and long forms",
			yml: `
services:
  web:
    image: x
    ports:
      - "8080:80"
      - "53:53/udp"
      - "9000"
      - target: 443
        published: 8443
        protocol: tcp
        mode: host
      - target: 81
        published: "8081"
        name: admin
`,
			check: func(t *testing.T, st *Stack) {
				eq(t, "endpoint", service(t, st, "st_web").EndpointSpec, &api.EndpointSpec{Ports: []api.PortConfig{
					{Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress"},
					{Protocol: "udp", TargetPort: 53, PublishedPort: 53, PublishMode: "ingress"},
					{Protocol: "tcp", TargetPort: 9000, PublishMode: "ingress"},
					{Protocol: "tcp", TargetPort: 443, PublishedPort: 8443, PublishMode: "host"},
					{Name: "admin", Protocol: "tcp", TargetPort: 81, PublishedPort: 8081, PublishMode: "ingress"},
				}})
			},
		},
		{
			name: "networks, aliases and the default network",
			yml: `
services:
  web:
    image: x
    networks:
      front:
        aliases: [www, site]
      back:
  worker:
    image: x
  quiet:
    image: x
    networks:
      back:
        use_service_name_alias: false
networks:
  front:
    external: true
    name: traefik-public
  back:
    driver: overlay
    attachable: true
    labels:
      tier: back
  unused: {}
`,
			check: func(t *testing.T, st *Stack) {
				eq(t, "web", service(t, st, "st_web").TaskTemplate.Networks, []api.NetworkAttachment{
					{Target: "st_back", Aliases: []string{"web"}},
					{Target: "traefik-public", Aliases: []string{"www", "site", "web"}},
				})
				eq(t, "worker", service(t, st, "st_worker").TaskTemplate.Networks, []api.NetworkAttachment{
					{Target: "st_default", Aliases: []string{"worker"}},
				})
				eq(t, "quiet", service(t, st, "st_quiet").TaskTemplate.Networks, []api.NetworkAttachment{{Target: "st_back"}})
				eq(t, "networks", st.Networks, []NetworkRef{
					{Key: "back", Name: "st_back", Driver: "overlay", Attachable: true,
						Labels: map[string]string{"tier": "back", api.StackNamespaceLabel: "st"}},
					{Key: "default", Name: "st_default", Driver: "overlay", Labels: ns},
					{Key: "front", Name: "traefik-public", External: true},
				})
			},
		},
		{
			name: "volumes: named, external, bind, tmpfs",
			yml: `
services:
  db:
    image: x
    volumes:
      - data:/var/lib/data
      - shared:/shared:ro
      - ./conf:/etc/conf:ro
      - /var/run/docker.sock:/var/run/docker.sock
      - type: tmpfs
        target: /cache
        tmpfs:
          size: 1048576
      - /anonymous
    tmpfs:
      - /run:size=64m,mode=1777
volumes:
  data:
    labels:
      backup: daily
  shared:
    external: true
    name: nfs-shared
`,
			check: func(t *testing.T, st *Stack) {
				dir := st.Services[0].TaskTemplate.ContainerSpec.Mounts[2].Source
				if !filepath.IsAbs(dir) || !strings.HasSuffix(dir, "/conf") {
					t.Errorf("bind source %q: want an absolute path ending in /conf", dir)
				}
				eq(t, "mounts", service(t, st, "st_db").TaskTemplate.ContainerSpec.Mounts, []api.Mount{
					{Type: "volume", Source: "st_data", Target: "/var/lib/data",
						VolumeLabels: map[string]string{"backup": "daily", api.StackNamespaceLabel: "st"}},
					{Type: "volume", Source: "nfs-shared", Target: "/shared", ReadOnly: true},
					{Type: "bind", Source: dir, Target: "/etc/conf", ReadOnly: true},
					{Type: "bind", Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"},
					{Type: "tmpfs", Target: "/cache", TmpfsSize: 1 << 20},
					{Type: "volume", Target: "/anonymous"},
					{Type: "tmpfs", Target: "/run", TmpfsSize: 64 << 20, TmpfsMode: 0o1777},
				})
			},
		},
		{
			name: "logging, capabilities, sysctls, ulimits, hosts, dns",
			yml: `
services:
  web:
    image: x
    logging:
      driver: json-file
      options:
        max-size: 10m
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    sysctls:
      - net.core.somaxconn=1024
    ulimits:
      nproc: 65535
      nofile:
        soft: 20000
        hard: 40000
    extra_hosts:
      - "db.local:10.0.0.5"
    dns: 8.8.8.8
    dns_search: [example.com]
    dns_opt: [use-vc]
`,
			check: func(t *testing.T, st *Stack) {
				s := service(t, st, "st_web")
				c := s.TaskTemplate.ContainerSpec
				eq(t, "log driver", s.TaskTemplate.LogDriver, &api.Driver{Name: "json-file", Options: map[string]string{"max-size": "10m"}})
				eq(t, "caps", []any{c.CapAdd, c.CapDrop}, []any{[]string{"NET_ADMIN"}, []string{"ALL"}})
				eq(t, "sysctls", c.Sysctls, map[string]string{"net.core.somaxconn": "1024"})
				eq(t, "ulimits", c.Ulimits, []api.Ulimit{{Name: "nofile", Soft: 20000, Hard: 40000}, {Name: "nproc", Soft: 65535, Hard: 65535}})
				eq(t, "hosts", c.Hosts, []string{"10.0.0.5 db.local"})
				eq(t, "dns", c.DNSConfig, &api.DNSConfig{Nameservers: []string{"8.8.8.8"}, Search: []string{"example.com"}, Options: []string{"use-vc"}})
			},
		},
		{
			name: "deploy",
			yml: `
services:
  web:
    image: x
    deploy:
      mode: replicated
      replicas: 3
      endpoint_mode: dnsrr
      placement:
        constraints:
          - node.role == worker
          - node.labels.zone != edge
        preferences:
          - spread: node.labels.zone
        max_replicas_per_node: 2
      resources:
        limits:
          cpus: "0.5"
          memory: 512M
        reservations:
          cpus: '0.1'
          memory: 128m
      restart_policy:
        condition: on-failure
        delay: 10s
        max_attempts: 3
        window: 2m
      update_config:
        parallelism: 2
        delay: 10s
        failure_action: rollback
        monitor: 30s
        max_failure_ratio: 0.25
        order: start-first
      rollback_config:
        parallelism: 0
        order: stop-first
        failure_action: pause
  agent:
    image: x
    deploy:
      mode: global
  zero:
    image: x
    deploy:
      replicas: 0
`,
			check: func(t *testing.T, st *Stack) {
				s := service(t, st, "st_web")
				eq(t, "mode", s.Mode, api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 3}})
				eq(t, "placement", s.TaskTemplate.Placement, &api.Placement{
					Constraints: []string{"node.role == worker", "node.labels.zone != edge"},
					Preferences: []api.PlacementPreference{{Spread: "node.labels.zone"}},
					MaxReplicas: 2,
				})
				eq(t, "resources", s.TaskTemplate.Resources, &api.ResourceRequirements{
					Limits:       &api.Resources{NanoCPUs: 500_000_000, MemoryBytes: 512 << 20},
					Reservations: &api.Resources{NanoCPUs: 100_000_000, MemoryBytes: 128 << 20},
				})
				eq(t, "restart", s.TaskTemplate.RestartPolicy, &api.RestartPolicy{
					Condition: "on-failure", Delay: dur("10s"), MaxAttempts: u64(3), Window: dur("2m")})
				eq(t, "update", s.UpdateConfig, &api.UpdateConfig{Parallelism: 2, Delay: *dur("10s"),
					FailureAction: "rollback", Monitor: *dur("30s"), MaxFailureRatio: 0.25, Order: "start-first"})
				eq(t, "rollback", s.RollbackConfig, &api.UpdateConfig{Parallelism: 0, FailureAction: "pause", Order: "stop-first"})
				eq(t, "endpoint", s.EndpointSpec, &api.EndpointSpec{Mode: "dnsrr"})
				eq(t, "global", service(t, st, "st_agent").Mode, api.ServiceMode{Global: &api.GlobalService{}})
				eq(t, "zero", service(t, st, "st_zero").Mode, api.ServiceMode{Replicated: &api.ReplicatedService{Replicas: 0}})
			},
		},
		{
			name: "restart is read when there is no restart_policy, and warned about",
			yml: `
services:
  web:
    image: x
    restart: on-failure:3
    build: .
    container_name: web1
    depends_on: [db]
  db:
    image: x
    restart: "no"
    expose: ["5432"]
    privileged: true
`,
			check: func(t *testing.T, st *Stack) {
				eq(t, "restart", service(t, st, "st_web").TaskTemplate.RestartPolicy,
					&api.RestartPolicy{Condition: "on-failure", MaxAttempts: u64(3)})
				eq(t, "warnings", st.Warnings, []string{
					"Ignoring unsupported options: build, depends_on, privileged, restart",
					"Ignoring deprecated options: container_name, expose",
				})
			},
		},
		{
			name: "services sorted by name; x- extensions and anchors",
			yml: `
x-common: &common
  image: base:1
  environment:
    SHARED: "1"
services:
  zeta:
    <<: *common
  alpha:
    <<: *common
    x-note: kept out
`,
			check: func(t *testing.T, st *Stack) {
				var names []string
				for _, s := range st.Services {
					names = append(names, s.Name)
					eq(t, s.Name+" image", s.TaskTemplate.ContainerSpec.Image, "base:1")
				}
				eq(t, "names", names, []string{"st_alpha", "st_zeta"})
				eq(t, "warnings", st.Warnings, []string(nil))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDir(t, map[string]string{
				"stack.yml": tc.yml,
				"app.conf":  "log_level: debug\n",
				"web.env":   "FILE_VAR=from file\nZ=from file\n",
			})
			st, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "stack.yml")}, Project: "st", Env: tc.env})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			for _, s := range st.Services {
				if err := s.Validate(); err != nil {
					t.Errorf("%s: Validate: %v", s.Name, err)
				}
			}
			tc.check(t, st)
		})
	}
}

func TestErrors(t *testing.T) {
	big := strings.Repeat("x", api.MaxSecretSize+1)
	bigConfig := strings.Repeat("x", api.MaxConfigSize+1)
	tests := []struct {
		name    string
		yml     string
		project string
		files   map[string]string
		want    []string // substrings of the error, in this order
	}{
		{
			name: "invalid YAML names the line",
			yml:  "services:\n  web:\n    image: x\n   bad: [\n",
			want: []string{"stack.yml: invalid YAML", "line 3, column 4"},
		},
		{
			name: "tab indentation",
			yml:  "services:\n\tweb:\n",
			want: []string{"stack.yml: invalid YAML", "line 2"},
		},
		{
			name: "unknown keys, each with its line",
			yml:  "services:\n  web:\n    image: x\n    imagee: y\n  db:\n    image: y\n    deploy:\n      placement:\n        constraint: [a]\n",
			want: []string{
				`stack.yml:4:5: services.web: unknown option "imagee"`,
				`stack.yml:9:9: services.db.deploy.placement: unknown option "constraint"`,
			},
		},
		{
			name: "wrong types",
			yml:  "services:\n  web:\n    image: [x]\n    deploy:\n      labels: 5\n",
			want: []string{
				"stack.yml:3:5: services.web.image must be a string",
				"stack.yml:5:7: services.web.deploy.labels must be a",
			},
		},
		{
			name: "bad durations",
			yml:  "services:\n  web:\n    image: x\n    healthcheck:\n      interval: 10x\n    deploy:\n      update_config:\n        monitor: soon\n",
			want: []string{
				`stack.yml:5:7: services.web.healthcheck.interval: time: unknown unit "x" in duration "10x"`,
				`stack.yml:8:9: services.web.deploy.update_config.monitor: time: invalid duration "soon"`,
			},
		},
		{
			name: "negative health check timings",
			yml:  "services:\n  web:\n    image: x\n    healthcheck:\n      test: [CMD, \"true\"]\n      interval: -5s\n      timeout: -1s\n      start_period: -2s\n      start_interval: -3s\n",
			want: []string{
				"stack.yml:6:7: services.web.healthcheck.interval: -5s must not be negative",
				"stack.yml:7:7: services.web.healthcheck.timeout: -1s must not be negative",
				"stack.yml:8:7: services.web.healthcheck.start_period: -2s must not be negative",
				"stack.yml:9:7: services.web.healthcheck.start_interval: -3s must not be negative",
			},
		},
		{
			name: "bad duration next to a schema error is listed too",
			yml:  "services:\n  web:\n    image: x\n    stop_grace_period: 5y\n    colour: red\n",
			want: []string{
				`stack.yml:4:5: services.web.stop_grace_period: time: unknown unit "y"`,
				`stack.yml:5:5: services.web: unknown option "colour"`,
			},
		},
		{
			name: "bad constraints name the service and the constraint",
			yml: "services:\n  api:\n    image: x\n    deploy:\n      placement:\n        constraints:\n" +
				"          - node.platform.os = linux\n          - node.colour == red\n",
			want: []string{
				`stack.yml:7:13: services.api.deploy.placement.constraints[0]: constraint "node.platform.os = linux": want KEY==VALUE or KEY!=VALUE`,
				`stack.yml:8:13: services.api.deploy.placement.constraints[1]: constraint "node.colour == red": unknown key "node.colour"`,
			},
		},
		{
			name: "duplicate published ports across services",
			yml:  "services:\n  a:\n    image: x\n    ports: ['80:80', '53:53/udp']\n  b:\n    image: x\n    ports: ['80:8080', '53:53/tcp', {target: 90, published: 53, protocol: udp, mode: host}]\n",
			want: []string{`stack.yml:7:13: services.b.ports[0]: published port 80/tcp is already published by service a`},
		},
		{
			name: "ports published twice by one service",
			yml:  "services:\n  a:\n    image: x\n    ports: ['80:80', '80:81']\n",
			want: []string{`stack.yml:4:22: services.a.ports[1].published: published port 80/tcp is used twice`},
		},
		{
			name:  "secret and config too large, naming the files",
			yml:   "services:\n  a:\n    image: x\nsecrets:\n  big:\n    file: big.secret\nconfigs:\n  large:\n    file: ./large.conf\n",
			files: map[string]string{"big.secret": big, "large.conf": bigConfig},
			want: []string{
				"stack.yml:9:5: configs.large.file: file ", "large.conf is 1024001 bytes: too large, a config may have at most 1024000 bytes",
				"stack.yml:6:5: secrets.big.file: file ", "big.secret is 512001 bytes: too large, a secret may have at most 512000 bytes",
			},
		},
		{
			name: "missing config file and unset environment source",
			yml:  "services:\n  a:\n    image: x\nconfigs:\n  c:\n    file: nope.conf\nsecrets:\n  s:\n    environment: NOT_SET\n",
			want: []string{
				"stack.yml:6:5: configs.c.file: file ", "nope.conf: no such file or directory",
				"stack.yml:9:5: secrets.s.environment: environment variable NOT_SET is not set",
			},
		},
		{
			name: "undefined references",
			yml: "services:\n  a:\n    image: x\n    configs: [cfg]\n    secrets: [sec]\n    networks: [net]\n" +
				"    volumes: ['vol:/data']\n",
			want: []string{
				`stack.yml:4:15: services.a.configs[0]: config "cfg" is not defined`,
				`stack.yml:5:15: services.a.secrets[0]: secret "sec" is not defined`,
				`stack.yml:7:15: services.a.volumes[0]: volume "vol" is not defined`,
				`stack.yml:6:16: services.a.networks.net: network "net" is not defined`,
			},
		},
		{
			name:    "invalid stack name",
			yml:     "services:\n  a:\n    image: x\n",
			project: "my stack",
			want:    []string{`invalid stack name "my stack"`},
		},
		{
			name: "spec validation, at the keys",
			yml: "services:\n  a:\n    image: x\n    stop_signal: SIGWHAT\n    deploy:\n      update_config:\n        failure_action: explode\n" +
				"      restart_policy:\n        condition: sometimes\n  b:\n    working_dir: /srv\n",
			want: []string{
				`stack.yml:4:5: services.a.stop_signal: invalid stop signal "SIGWHAT"`,
				`stack.yml:9:9: services.a.deploy.restart_policy.condition: restart condition "sometimes"`,
				`stack.yml:7:9: services.a.deploy.update_config.failure_action: update failure action "explode"`,
				`stack.yml:10:3: services.b: no image and no command`,
			},
		},
		{
			name: "forbidden options",
			yml:  "services:\n  a:\n    image: x\n    mem_limit: 1g\n    volumes_from: [b]\n",
			want: []string{
				"stack.yml:4:5: services.a.mem_limit: option mem_limit is not supported by swarm stacks: Set resource limits using deploy.resources",
				"stack.yml:5:5: services.a.volumes_from: option volumes_from is not supported",
			},
		},
		{
			name: "mode and replicas",
			yml:  "services:\n  a:\n    image: x\n    deploy:\n      mode: global\n      replicas: 2\n  b:\n    image: x\n    deploy:\n      mode: sometimes\n  c:\n    image: x\n    deploy:\n      mode: global-job\n      replicas: 2\n",
			want: []string{
				"stack.yml:6:7: services.a.deploy.replicas: replicas can only be used with replicated mode",
				`stack.yml:10:7: services.b.deploy.mode: mode "sometimes" is not supported`,
				"stack.yml:15:7: services.c.deploy.replicas: replicas can only be used with replicated mode, not global-job",
			},
		},
		{
			name: "required variable",
			yml:  "services:\n  a:\n    image: ${IMAGE:?set IMAGE}\n",
			want: []string{"stack.yml:3:5: error while interpolating services.a.image: required variable IMAGE is missing a value: set IMAGE"},
		},
		{
			name: "bad short port syntax",
			yml:  "services:\n  a:\n    image: x\n    ports: ['80:http']\n",
			want: []string{"stack.yml:4:13: services.a.ports[0]: invalid containerPort: http"},
		},
		{
			name: "healthcheck test",
			yml:  "services:\n  a:\n    image: x\n    healthcheck:\n      test: [RUN, x]\n",
			want: []string{`stack.yml:5:7: services.a.healthcheck.test: test "RUN" must start with "CMD", "CMD-SHELL" or "NONE"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"stack.yml": tc.yml}
			for k, v := range tc.files {
				files[k] = v
			}
			dir := writeDir(t, files)
			project := tc.project
			if project == "" {
				project = "st"
			}
			opts := Options{Files: []string{"stack.yml"}, Project: project, WorkingDir: dir}
			st, err := Load(context.Background(), opts)
			if err == nil {
				t.Fatalf("no error; stack %+v", st)
			}
			if st != nil {
				t.Errorf("a stack came back with the error: %+v", st)
			}
			msg := err.Error()
			rest := msg
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error does not contain %q (in order):\n%s", w, msg)
				}
				rest = rest[i+len(w):]
			}
			// The same files give the same message.
			_, err2 := Load(context.Background(), opts)
			if err2 == nil || err2.Error() != msg {
				t.Errorf("second load gave another error:\n%v\nfirst:\n%s", err2, msg)
			}
		})
	}
}

func TestNoFile(t *testing.T) {
	_, err := Load(context.Background(), Options{Files: []string{"/nonexistent/stack.yml"}, Project: "st"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/stack.yml") {
		t.Fatalf("err = %v", err)
	}
	_, err = Load(context.Background(), Options{Project: "st"})
	if err == nil {
		t.Fatal("no error without files")
	}
}

func TestEnvAndInterpolation(t *testing.T) {
	dir := writeDir(t, map[string]string{
		".env": "TAG=from-dotenv\nREPLICAS=4\nONLY_DOTENV=dot\nDERIVED=${BASE}-x\n",
		"stack.yml": `
services:
  web:
    image: nginx:${TAG}
    environment:
      - ONLY_DOTENV=${ONLY_DOTENV}
      - DEFAULTED=${UNSET_VAR:-fallback}
      - EMPTY_DEFAULT=${EMPTY:-fallback}
      - DERIVED=${DERIVED}
      - LEAK=${SHOAL_TEST_OS_ONLY:-not-leaked}
    deploy:
      replicas: ${REPLICAS}
`,
	})
	t.Setenv("SHOAL_TEST_OS_ONLY", "leaked")
	t.Setenv("TAG", "from-os")
	st, err := Load(context.Background(), Options{
		Files:   []string{filepath.Join(dir, "stack.yml")},
		Project: "st",
		Env:     map[string]string{"TAG": "from-caller", "EMPTY": "", "BASE": "base"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := service(t, st, "st_web")
	eq(t, "image: the caller's env wins over .env", s.TaskTemplate.ContainerSpec.Image, "nginx:from-caller")
	eq(t, "replicas from .env", s.Mode.Replicas(), uint64(4))
	eq(t, "env", s.TaskTemplate.ContainerSpec.Env, []string{
		"DEFAULTED=fallback", "DERIVED=base-x", "EMPTY_DEFAULT=fallback", "LEAK=not-leaked", "ONLY_DOTENV=dot",
	})
}

func TestOverrideFiles(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"base.yml": `
services:
  web:
    image: web:1
    environment:
      A: base
      B: base
    ports: ["80:80"]
    deploy:
      replicas: 1
      labels:
        tier: web
  db:
    image: db:1
`,
		"prod/override.yml": `
services:
  web:
    image: web:2
    environment:
      B: prod
    ports: ["443:443"]
    deploy:
      replicas: 3
`,
	})
	st, err := Load(context.Background(), Options{
		Files:   []string{filepath.Join(dir, "base.yml"), filepath.Join(dir, "prod/override.yml")},
		Project: "st",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := service(t, st, "st_web")
	eq(t, "image", s.TaskTemplate.ContainerSpec.Image, "web:2")
	eq(t, "env", s.TaskTemplate.ContainerSpec.Env, []string{"A=base", "B=prod"})
	eq(t, "replicas", s.Mode.Replicas(), uint64(3))
	eq(t, "labels kept", s.Labels["tier"], "web")
	eq(t, "ports merged", len(s.EndpointSpec.Ports), 2)
	eq(t, "db kept", service(t, st, "st_db").TaskTemplate.ContainerSpec.Image, "db:1")

	// An error in the override file names that file.
	bad := writeDir(t, map[string]string{
		"base.yml":     "services:\n  web:\n    image: x\n",
		"override.yml": "services:\n  web:\n    replicas: 2\n",
	})
	_, err = Load(context.Background(), Options{Files: []string{"base.yml", "override.yml"}, Project: "st", WorkingDir: bad})
	if err == nil || !strings.Contains(err.Error(), `override.yml:3:5: services.web: unknown option "replicas"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestStdin(t *testing.T) {
	dir := t.TempDir()
	st, err := Load(context.Background(), Options{
		Files:      []string{"-"},
		Stdin:      strings.NewReader("services:\n  web:\n    image: x\n    volumes: ['./data:/data']\n"),
		Project:    "st",
		WorkingDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "bind source relative to the working dir", service(t, st, "st_web").TaskTemplate.ContainerSpec.Mounts[0].Source,
		filepath.Join(dir, "data"))

	_, err = Load(context.Background(), Options{Files: []string{"-"}, Stdin: strings.NewReader("services: [\n"), Project: "st", WorkingDir: dir})
	if err == nil || !strings.Contains(err.Error(), "stdin: invalid YAML") || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("err = %v", err)
	}
}

func TestStackNames(t *testing.T) {
	yml := `
services:
  web:
    image: x
    configs: [c]
    volumes: ['data:/d']
configs:
  c:
    content: hello
volumes:
  data: {}
`
	dir := writeDir(t, map[string]string{"stack.yml": yml})
	st, err := Load(context.Background(), Options{Files: []string{filepath.Join(dir, "stack.yml")}, Project: "Prod-EU"})
	if err != nil {
		t.Fatal(err)
	}
	s := service(t, st, "Prod-EU_web")
	eq(t, "config name", s.TaskTemplate.ContainerSpec.Configs[0].ConfigName, "Prod-EU_c")
	eq(t, "volume", s.TaskTemplate.ContainerSpec.Mounts[0].Source, "Prod-EU_data")
	eq(t, "network", st.Networks[0].Name, "Prod-EU_default")
	eq(t, "labels", st.Configs[0].Labels, map[string]string{api.StackNamespaceLabel: "Prod-EU"})
	eq(t, "config data", string(st.Configs[0].ConfigSpec().Data), "hello")
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, Options{Files: []string{"testdata/signup-v2.yml"}, Project: "signup"}); err == nil {
		t.Fatal("no error with a cancelled context")
	}
}

func TestMoreErrors(t *testing.T) {
	tests := []struct {
		name string
		yml  string
		want string
	}{
		{"dnsrr with an ingress port", "services:\n  a:\n    image: x\n    ports: ['80:80']\n    deploy: {endpoint_mode: dnsrr}\n",
			"stack.yml:4:13: services.a.ports[0]: port 80 is published in ingress mode, which endpoint_mode dnsrr does not allow"},
		{"dnsrr with a target-only ingress port", "services:\n  a:\n    image: x\n    ports: ['6379']\n    deploy: {endpoint_mode: dnsrr}\n",
			"stack.yml:4:13: services.a.ports[0]: port 6379 is published in ingress mode, which endpoint_mode dnsrr does not allow: use mode: host"},
		{"max replicas per node on a global service", "services:\n  a:\n    image: x\n    deploy:\n      mode: global\n      placement: {max_replicas_per_node: 2}\n",
			"stack.yml:6:19: services.a.deploy.placement.max_replicas_per_node: max_replicas_per_node can only be used with replicated mode"},
		{"tmpfs with a bad size", "services:\n  a:\n    image: x\n    tmpfs: ['/run:size=lots']\n",
			`stack.yml:4:13: services.a.tmpfs[0]: tmpfs "/run:size=lots": invalid size "lots"`},
		{"unsupported mount type", "services:\n  a:\n    image: x\n    volumes: [{type: npipe, source: '\\\\.\\pipe\\docker_engine', target: '\\\\.\\pipe\\docker_engine'}]\n",
			`services.a.volumes[0]: volume type "npipe" is not supported`},
		{"empty config", "services:\n  a:\n    image: x\nconfigs:\n  c:\n    content: ''\n    file: x\n",
			"configs.c: file|environment|content attributes are mutually exclusive"},
		{"service name too long for the stack", "services:\n  " + strings.Repeat("a", 62) + ":\n    image: x\n",
			"longer than 63 characters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yml, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMissingOverrideFile(t *testing.T) {
	dir := writeDir(t, map[string]string{"base.yml": "services:\n  web:\n    build: .\n"})
	_, err := Load(context.Background(), Options{Files: []string{"base.yml", "override.yml"}, Project: "st", WorkingDir: dir})
	if err == nil || err.Error() != "read compose file override.yml: no such file or directory" {
		t.Fatalf("err = %v", err)
	}
}

func TestComposeWarnings(t *testing.T) {
	st := mustLoad(t, "version: '3.8'\nservices:\n  a:\n    image: x\n    init: yes\n")
	eq(t, "init", *st.Services[0].TaskTemplate.ContainerSpec.Init, true)
	// compose-go's own warnings are returned, not printed; the version key
	// is fine for a stack file.
	eq(t, "warnings", st.Warnings, []string{"\"yes\" for boolean is not supported by YAML 1.2, please use `true`"})
}

// TestDotEnvValuesAreNamed: docker stack deploy reads no .env file; shoal
// does, for variables the caller does not set, and names them in a
// warning so that the difference shows.
func TestDotEnvValuesAreNamed(t *testing.T) {
	dir := writeDir(t, map[string]string{
		".env":      "TAG=from-dotenv\nREPLICAS=2\nUNUSED_HERE=1\n",
		"stack.yml": "services:\n  web:\n    image: nginx:${TAG}\n    deploy:\n      replicas: ${REPLICAS}\n",
	})
	st, err := Load(context.Background(), Options{
		Files: []string{filepath.Join(dir, "stack.yml")}, Project: "st", Env: map[string]string{"TAG": "from-caller"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "Using REPLICAS, UNUSED_HERE from " + filepath.Join(dir, ".env") + ": docker stack deploy reads no .env file, and would leave them unset"
	eq(t, "warnings", st.Warnings, []string{want})
	st, err = Load(context.Background(), Options{
		Files: []string{filepath.Join(dir, "stack.yml")}, Project: "st", Env: map[string]string{"TAG": "a", "REPLICAS": "1", "UNUSED_HERE": "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "warnings when the caller sets every variable", st.Warnings, []string(nil))
}
