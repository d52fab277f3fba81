package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// filterCase is one run of a list command with filters: the lines it
// prints (sorted), or its exit code and a part of its error.
type filterCase struct {
	name    string
	args    []string
	want    []string
	code    int
	wantErr string
}

func runFilterCases(t *testing.T, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := shoal(t, tc.args...)
			if expectExit(t, r, tc.code, tc.wantErr) {
				if r.stdout != "" {
					t.Errorf("want nothing on stdout: %s", r)
				}
				return
			}
			got := lines(r.stdout)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("printed %q, want %q", got, want)
			}
		})
	}
}

// TestListFilters checks -f on every list command that has it in docker:
// each key docker's has, and docker's errors for an unknown key (exit 1,
// "invalid filter 'KEY'") and for a filter that is not KEY=VALUE (exit
// 125).
func TestListFilters(t *testing.T) {
	cleanupNetworks(t, "flt-front", "flt-back", "fltstk_default")
	cleanupServices(t)
	cleanupObjects(t, "config", "flt-cfg", "flt-other")
	cleanupObjects(t, "secret", "flt-pw")
	data := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(data, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustShoal(t, "network", "create", "--label", "tier=front", "flt-front")
	mustShoal(t, "network", "create", "flt-back")
	mustShoal(t, "config", "create", "--label", "env=prod", "flt-cfg", data)
	mustShoal(t, "config", "create", "flt-other", data)
	mustShoal(t, "secret", "create", "--label", "env=prod", "flt-pw", data)
	webID := strings.TrimSpace(mustShoal(t, "service", "create", "-d", "--name", "flt-web", "-l", "tier=front", "--network", "flt-front", "--", "sleep", "300").stdout)
	mustShoal(t, "service", "create", "-d", "--name", "flt-db", "--mode", "global", "-l", "tier=back", "--", "sleep", "300")
	mustShoal(t, "service", "create", "-d", "--name", "flt-job", "--mode", "replicated-job", "--", "true")
	stack := writeStackFile(t, "services:\n  app:\n    command: [\"sleep\", \"300\"]\n")
	mustShoal(t, "stack", "deploy", "-d", "-c", stack, "fltstk")
	waitRunning(t, "flt-web", 1)
	waitRunning(t, "fltstk_app", 1)

	ctx := context.Background()
	c := testClient(t)
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	self, err := c.NodeInspect(ctx, info.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	host := self.Description.Hostname
	tasks, err := serviceTasks(ctx, c, "flt-web")
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks of flt-web: %v, %v", tasks, err)
	}
	taskID := tasks[0].ID
	cfg, err := c.ConfigInspect(ctx, "flt-cfg")
	if err != nil {
		t.Fatal(err)
	}
	net, err := c.NetworkInspect(ctx, "flt-back")
	if err != nil {
		t.Fatal(err)
	}

	svcLs := []string{"service", "ls", "--format", "{{.Name}}", "-f", "name=flt-"}
	ps := []string{"service", "ps", "flt-web", "--format", "{{.Name}} {{.Node}} {{.DesiredState}}"}
	nodeLs := []string{"node", "ls", "--format", "{{.Hostname}}"}
	netLs := []string{"network", "ls", "--format", "{{.Name}}", "-f", "name=flt-"}
	runFilterCases(t, []filterCase{
		{name: "service ls name", args: svcLs, want: []string{"flt-db", "flt-job", "flt-web"}},
		{name: "service ls name prefix only", args: []string{"service", "ls", "--format", "{{.Name}}", "-f", "name=web"}},
		{name: "service ls two names", args: []string{"service", "ls", "--format", "{{.Name}}", "-f", "name=flt-w", "-f", "name=flt-d"}, want: []string{"flt-db", "flt-web"}},
		{name: "service ls id", args: append(svcLs, "-f", "id="+webID[:6]), want: []string{"flt-web"}},
		{name: "service ls label key", args: append(svcLs, "-f", "label=tier"), want: []string{"flt-db", "flt-web"}},
		{name: "service ls label value", args: append(svcLs, "-f", "label=tier=back"), want: []string{"flt-db"}},
		{name: "service ls mode global", args: append(svcLs, "-f", "mode=global"), want: []string{"flt-db"}},
		{name: "service ls mode replicated", args: append(svcLs, "-f", "mode=replicated"), want: []string{"flt-web"}},
		{name: "service ls mode job", args: append(svcLs, "-f", "mode=replicated-job"), want: []string{"flt-job"}},
		{name: "service ls bad mode", args: append(svcLs, "-f", "mode=sometimes"), code: 1, wantErr: "invalid filter 'mode=sometimes'"},
		{name: "service ls unknown key", args: append(svcLs, "-f", "colour=red"), code: 1, wantErr: "invalid filter 'colour'"},
		{name: "service ls not key=value", args: append(svcLs, "-f", "name"), code: ExitUsage, wantErr: `invalid argument "name" for "-f, --filter" flag: bad format of filter (expected name=value)`},
		{name: "stack services filter", args: []string{"stack", "services", "fltstk", "--format", "{{.Name}}", "-f", "name=fltstk_a"}, want: []string{"fltstk_app"}},

		{name: "service ps running", args: append(ps, "-f", "desired-state=running"), want: []string{"flt-web.1 " + host + " Running"}},
		{name: "service ps shutdown", args: append(ps, "-f", "desired-state=shutdown")},
		{name: "service ps node self", args: append(ps, "-f", "node=self"), want: []string{"flt-web.1 " + host + " Running"}},
		{name: "service ps node hostname", args: append(ps, "-f", "node="+host), want: []string{"flt-web.1 " + host + " Running"}},
		{name: "service ps node missing", args: append(ps, "-f", "node=nope"), code: 1, wantErr: "no such node: nope"},
		{name: "service ps name", args: append(ps, "-f", "name=flt-web.2")},
		{name: "service ps id", args: append(ps, "-f", "id="+taskID[:5]), want: []string{"flt-web.1 " + host + " Running"}},
		{name: "service ps no-resolve", args: append(ps, "--no-resolve"), want: []string{webID + ".1 " + info.NodeID + " Running"}},
		{name: "service ps bad state", args: append(ps, "-f", "desired-state=sleepy"), code: 1, wantErr: "invalid filter 'desired-state=sleepy'"},
		{name: "service ps unknown key", args: append(ps, "-f", "label=x"), code: 1, wantErr: "invalid filter 'label'"},
		{name: "stack ps running", args: []string{"stack", "ps", "fltstk", "--format", "{{.Name}}", "-f", "desired-state=running", "-f", "node=self"}, want: []string{"fltstk_app.1"}},
		{name: "stack ps unknown key", args: []string{"stack", "ps", "fltstk", "-f", "mode=global"}, code: 1, wantErr: "invalid filter 'mode'"},
		{name: "node ps label", args: []string{"node", "ps", "--format", "{{.Name}}", "-f", "name=flt-web", "-f", "label=nope"}},

		{name: "node ls role manager", args: append(nodeLs, "-f", "role=manager"), want: []string{host}},
		{name: "node ls role worker", args: append(nodeLs, "-f", "role=worker")},
		{name: "node ls membership", args: append(nodeLs, "-f", "membership=accepted"), want: []string{host}},
		{name: "node ls membership pending", args: append(nodeLs, "-f", "membership=pending")},
		{name: "node ls name", args: append(nodeLs, "-f", "name="+host[:1]), want: []string{host}},
		{name: "node ls id", args: append(nodeLs, "-f", "id="+info.NodeID[:4]), want: []string{host}},
		{name: "node ls node.label", args: append(nodeLs, "-f", "node.label=zone")},
		{name: "node ls bad role", args: append(nodeLs, "-f", "role=boss"), code: 1, wantErr: "invalid filter 'role=boss'"},
		{name: "node ls unknown key", args: append(nodeLs, "-f", "hostname=x"), code: 1, wantErr: "invalid filter 'hostname'"},

		{name: "network ls name", args: netLs, want: []string{"flt-back", "flt-front"}},
		{name: "network ls name part", args: []string{"network", "ls", "--format", "{{.Name}}", "-f", "name=-fro"}, want: []string{"flt-front"}},
		{name: "network ls label", args: append(netLs, "-f", "label=tier=front"), want: []string{"flt-front"}},
		{name: "network ls id", args: append(netLs, "-f", "id="+net.ID[:6]), want: []string{"flt-back"}},
		{name: "network ls driver", args: append(netLs, "-f", "driver=overlay"), want: []string{"flt-back", "flt-front"}},
		{name: "network ls dangling", args: append(netLs, "-f", "dangling=true"), want: []string{"flt-back"}},
		{name: "network ls in use", args: append(netLs, "-f", "dangling=false"), want: []string{"flt-front"}},
		{name: "network ls scope", args: append(netLs, "-f", "scope=swarm", "-f", "type=custom"), want: []string{"flt-back", "flt-front"}},
		{name: "network ls builtin", args: append(netLs, "-f", "type=builtin")},
		{name: "network ls unknown key", args: append(netLs, "-f", "subnet=10.0.0.0/8"), code: 1, wantErr: "invalid filter 'subnet'"},

		{name: "config ls name", args: []string{"config", "ls", "--format", "{{.Name}}", "-f", "name=flt-"}, want: []string{"flt-cfg", "flt-other"}},
		{name: "config ls label", args: []string{"config", "ls", "--format", "{{.Name}}", "-f", "label=env=prod"}, want: []string{"flt-cfg"}},
		{name: "config ls id", args: []string{"config", "ls", "--format", "{{.Name}}", "-f", "id=" + cfg.ID[:6]}, want: []string{"flt-cfg"}},
		{name: "config ls unknown key", args: []string{"config", "ls", "-f", "driver=x"}, code: 1, wantErr: "invalid filter 'driver'"},
		{name: "secret ls label", args: []string{"secret", "ls", "--format", "{{.Name}}", "-f", "label=env", "-f", "name=flt"}, want: []string{"flt-pw"}},
		{name: "secret ls not key=value", args: []string{"secret", "ls", "-f", "label"}, code: ExitUsage, wantErr: "bad format of filter (expected name=value)"},
		{name: "ps unknown key", args: []string{"ps", "-f", "colour=red"}, code: 1, wantErr: "invalid filter 'colour'"},
	})
}
