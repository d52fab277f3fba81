package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// TestContainerFlags checks the flags CI scripts pass to docker's service
// create, service update and stack deploy: each sets what the spec (and
// the compose file) can say, or is accepted and documented when it means
// nothing without a registry.
func TestContainerFlags(t *testing.T) {
	cleanupNetworks(t, "cf-net", "cfstk_default")
	cleanupServices(t)
	mustShoal(t, "network", "create", "cf-net")
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# settings\nA=from-file\n\nB=2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustShoal(t, "service", "create", "-d", "--name", "cf-upd", "--cap-add", "NET_ADMIN", "--ulimit", "nproc=10",
		"--dns", "10.0.0.1", "--mount", "type=tmpfs,target=/cache", "--network", "cf-net", "--sysctl", "net.ipv4.ip_forward=1", "alpine")

	type check func(s *api.ServiceSpec) string // "" when right
	eq := func(what, got, want string) string {
		if got != want {
			return what + " = " + got + ", want " + want
		}
		return ""
	}
	for _, tc := range []struct {
		name    string
		args    []string
		svc     string
		check   check
		code    int
		errPart string
	}{
		{name: "create all", svc: "cf-new", args: []string{"service", "create", "-d", "--name", "cf-new",
			"--init", "--read-only", "--tty", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD", "--ulimit", "nofile=1024:2048",
			"--dns", "10.0.0.53", "--dns-search", "example.org", "--dns-option", "ndots:2", "--sysctl", "net.core.somaxconn=1024",
			"--log-driver", "json-file", "--log-opt", "max-size=10m", "--env-file", envFile, "-e", "A=from-flag",
			"--add-host", "db:10.1.2.3", "--with-registry-auth", "--no-resolve-image", "alpine", "sleep", "1"},
			check: func(s *api.ServiceSpec) string {
				c := s.TaskTemplate.ContainerSpec
				return eq("container", mustJSON(t, map[string]any{"Init": c.Init, "ReadOnly": c.ReadOnly, "TTY": c.TTY, "CapAdd": c.CapAdd,
					"CapDrop": c.CapDrop, "Ulimits": c.Ulimits, "DNS": c.DNSConfig, "Sysctls": c.Sysctls, "Env": c.Env, "Log": s.TaskTemplate.LogDriver,
					"Hosts": c.Hosts, "Args": c.Args}),
					`{"Args":["sleep","1"],"CapAdd":["NET_ADMIN"],"CapDrop":["MKNOD"],"DNS":{"Nameservers":["10.0.0.53"],"Search":["example.org"],"Options":["ndots:2"]},`+
						`"Env":["A=from-file","B=2","A=from-flag"],"Hosts":["10.1.2.3 db"],"Init":true,"Log":{"Name":"json-file","Options":{"max-size":"10m"}},"ReadOnly":true,`+
						`"Sysctls":{"net.core.somaxconn":"1024"},"TTY":true,"Ulimits":[{"Name":"nofile","Soft":1024,"Hard":2048}]}`)
			}},
		{name: "update adds and removes", svc: "cf-upd", args: []string{"service", "update", "-d",
			"--cap-add", "SYS_TIME", "--cap-drop", "NET_ADMIN", "--ulimit-rm", "nproc", "--ulimit-add", "nofile=5",
			"--dns-rm", "10.0.0.1", "--dns-add", "10.0.0.2", "--dns-search-add", "svc.local", "--network-rm", "cf-net",
			"--mount-rm", "/cache", "--mount-add", "type=tmpfs,target=/scratch", "--sysctl-rm", "net.ipv4.ip_forward",
			"--entrypoint", "/bin/sh -c", "--init", "--tty", "--log-driver", "local", "--with-registry-auth", "--no-resolve-image", "cf-upd"},
			check: func(s *api.ServiceSpec) string {
				c := s.TaskTemplate.ContainerSpec
				return eq("container", mustJSON(t, map[string]any{"CapAdd": c.CapAdd, "CapDrop": c.CapDrop, "Ulimits": c.Ulimits, "DNS": c.DNSConfig,
					"Nets": s.TaskTemplate.Networks, "Mounts": c.Mounts, "Sysctls": c.Sysctls, "Command": c.Command, "Init": c.Init, "TTY": c.TTY,
					"Log": s.TaskTemplate.LogDriver}),
					`{"CapAdd":["SYS_TIME"],"CapDrop":["NET_ADMIN"],"Command":["/bin/sh","-c"],"DNS":{"Nameservers":["10.0.0.2"],"Search":["svc.local"]},`+
						`"Init":true,"Log":{"Name":"local"},"Mounts":[{"Type":"tmpfs","Target":"/scratch"}],"Nets":null,"Sysctls":null,"TTY":true,`+
						`"Ulimits":[{"Name":"nofile","Soft":5,"Hard":5}]}`)
			}},
		{name: "update network-add", svc: "cf-upd", args: []string{"service", "update", "-d", "--network-add", "cf-net", "--entrypoint", "",
			"--host-add", "a:10.0.0.1", "--host-add", "b:10.0.0.2", "cf-upd"},
			check: func(s *api.ServiceSpec) string {
				c := s.TaskTemplate.ContainerSpec
				return eq("networks, command, hosts", mustJSON(t, []any{s.TaskTemplate.Networks, c.Command, c.Hosts}), `[[{"Target":"cf-net"}],null,["10.0.0.1 a","10.0.0.2 b"]]`)
			}},
		{name: "update host-rm", svc: "cf-upd", args: []string{"service", "update", "-d", "--host-rm", "a", "--host-rm", "b:10.9.9.9", "cf-upd"},
			check: func(s *api.ServiceSpec) string {
				return eq("hosts", mustJSON(t, s.TaskTemplate.ContainerSpec.Hosts), `["10.0.0.2 b"]`)
			}},
		{name: "bad add-host", args: []string{"service", "create", "--name", "x", "--add-host", "db", "alpine"}, code: ExitUsage, errPart: `invalid --add-host "db": want HOST:IP`},
		{name: "stack deploy registry flags", args: []string{"stack", "deploy", "-d", "--with-registry-auth", "--resolve-image", "never", "-c",
			writeStackFile(t, "services:\n  app:\n    command: [\"sleep\", \"300\"]\n"), "cfstk"}},
		{name: "bad ulimit", args: []string{"service", "create", "--name", "x", "--ulimit", "nofile=many", "alpine"}, code: ExitUsage, errPart: `invalid --ulimit "nofile=many": soft limit "many" is not a number`},
		{name: "ulimit soft above hard", args: []string{"service", "update", "--ulimit-add", "nofile=9:1", "cf-upd"}, code: ExitUsage, errPart: "soft limit 9 is above the hard limit 1"},
		{name: "log-opt without driver", args: []string{"service", "create", "--name", "x", "--log-opt", "a=b", "alpine"}, code: ExitUsage, errPart: "--log-opt needs --log-driver"},
		{name: "missing env file", args: []string{"service", "create", "--name", "x", "--env-file", "/nonexistent/env", "alpine"}, code: ExitUsage, errPart: "invalid --env-file"},
		{name: "bad resolve-image", args: []string{"stack", "deploy", "--resolve-image", "sometimes", "-c", "x.yml", "s"}, code: ExitUsage, errPart: "invalid option sometimes for flag --resolve-image"},
		{name: "entrypoint of a process service", args: []string{"service", "update", "--entrypoint", "x", "cfstk_app"}, code: ExitUsage, errPart: "runs a program, not an image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if expectExit(t, shoal(t, tc.args...), tc.code, tc.errPart) {
				return
			}
			if tc.check == nil {
				return
			}
			svc, err := testClient(t).ServiceInspect(context.Background(), tc.svc)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.check(&svc.Spec); msg != "" {
				t.Error(msg)
			}
		})
	}
}
