package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeStackFile writes a stack file into a fresh directory and returns
// its path.
func writeStackFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "stack.yml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// cleanupObjects removes configs and secrets by name when the test ends.
func cleanupObjects(t *testing.T, kind string, names ...string) {
	t.Cleanup(func() {
		for _, n := range names {
			shoal(t, kind, "rm", n)
		}
	})
}

// TestStackDeployRefusesObjectsItDoesNotOwn deploys stack clash over a
// service, a config, a secret and a network that have the stack's names
// but are not its own (no namespace label, or another stack's): the plan
// refuses, naming each, and nothing changes. docker stack deploy fails
// with a name conflict; it never takes the object over.
func TestStackDeployRefusesObjectsItDoesNotOwn(t *testing.T) {
	cleanupNetworks(t, "clash_default", "clash_back")
	cleanupServices(t)
	cleanupObjects(t, "config", "clash_cfg")
	cleanupObjects(t, "secret", "clash_pw")
	data := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(data, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustShoal(t, "service", "create", "--name", "clash_web", "--replicas", "0", "-d", "--", "sleep", "300")
	mustShoal(t, "config", "create", "clash_cfg", data)
	mustShoal(t, "secret", "create", "--label", "com.docker.stack.namespace=other", "clash_pw", data)
	mustShoal(t, "network", "create", "clash_back")
	file := writeStackFile(t, `
services:
  web:
    command: ["sleep", "300"]
    deploy: {replicas: 0}
    configs: [cfg]
    secrets: [pw]
    networks: [back]
configs:
  cfg: {file: ./data}
secrets:
  pw: {file: ./data}
networks:
  back: {}
`)
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "data"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--dry-run"}, {"-d"}} {
		r := shoal(t, append(append([]string{"stack", "deploy"}, args...), "-c", file, "clash")...)
		for _, want := range []string{
			`service "clash_web" exists and is not part of stack clash (it has no com.docker.stack.namespace label)`,
			`config "clash_cfg" exists and is not part of stack clash (it has no com.docker.stack.namespace label)`,
			`secret "clash_pw" exists and is not part of stack clash (it belongs to stack other)`,
			`network "clash_back" exists and is not part of stack clash (it has no com.docker.stack.namespace label)`,
			"nothing was changed",
		} {
			if r.code != 1 || !strings.Contains(r.stderr, want) {
				t.Errorf("deploy %v over objects it does not own: want %q\n%s", args, want, r)
			}
		}
	}
	r := mustShoal(t, "service", "inspect", "--format", "{{json .Spec.Labels}} {{json .Spec.TaskTemplate.ContainerSpec.Configs}}", "clash_web")
	if strings.Contains(r.stdout, "namespace") || strings.Contains(r.stdout, "clash_cfg") {
		t.Errorf("the refused deploy changed service clash_web: %s", r.stdout)
	}
	if r := shoal(t, "network", "inspect", "clash_default"); r.code == 0 {
		t.Error("the refused deploy created network clash_default")
	}
}

// TestStackPlanNamesEveryChangedField: a redeploy that changes only
// fields the change summary used to miss (hostname, read_only, cap_add,
// logging) plans an update naming them, not "(no change)".
func TestStackPlanNamesEveryChangedField(t *testing.T) {
	cleanupNetworks(t, "chg_default")
	cleanupServices(t)
	v1 := writeStackFile(t, "services:\n  web:\n    command: [\"sleep\", \"300\"]\n    deploy: {replicas: 0}\n")
	mustShoal(t, "stack", "deploy", "-d", "-c", v1, "chg")
	v2 := writeStackFile(t, `
services:
  web:
    command: ["sleep", "300"]
    hostname: web1
    read_only: true
    cap_add: [NET_ADMIN]
    logging: {driver: json-file}
    deploy: {replicas: 0}
`)
	r := mustShoal(t, "stack", "deploy", "--dry-run", "-c", v2, "chg")
	if want := "update service chg_web (hostname, read only, cap add, log driver)"; !strings.Contains(r.stdout, want) {
		t.Fatalf("plan of a changed hostname, read_only, cap_add and logging: want %q\n%s", want, r)
	}
	mustShoal(t, "stack", "deploy", "-d", "-c", v2, "chg")
	r = mustShoal(t, "service", "history", "--format", "{{.Change}}", "chg_web")
	if !strings.Contains(r.stdout, "hostname, read only, cap add, log driver") {
		t.Fatalf("service history of the change:\n%s", r)
	}
}

// TestStackDryRunRunsEveryCheckTheDeployWill: routing labels that the
// managers refuse (an unclosed rule, a router sent to
// dashboard@internal, a Traefik service without server.port) fail
// --dry-run and the deploy
// before anything is created, each problem listed once with its file,
// line, column and key path. Before, --dry-run said OK and the deploy
// created the network, the config and the first service, then stopped.
func TestStackDryRunRunsEveryCheckTheDeployWill(t *testing.T) {
	cleanupNetworks(t, "half_default")
	cleanupServices(t)
	cleanupObjects(t, "config", "half_cfg")
	file := writeStackFile(t, `services:
  a:
    command: ["sleep", "300"]
    deploy: {replicas: 0}
    configs: [cfg]
  b:
    command: ["sleep", "300"]
    deploy:
      replicas: 0
      labels:
        traefik.http.routers.b.rule: "PathPrefix(`+"`/b`"+`"
        traefik.http.routers.c.rule: "Path(`+"`/c`"+`)"
        traefik.http.routers.c.service: dashboard@internal
        traefik.http.services.b.loadbalancer.server.scheme: http
  c:
    command: ["sleep", "300"]
    deploy:
      labels: ["traefik.http.routers.d.rule=Nope()", "traefik.http.services.d.loadbalancer.server.port=80"]
      replicas: 0
      placement:
        constraints: ["node.colour == red"]
    networks: [back]
networks:
  back:
    driver: "-bad"
configs:
  cfg: {file: ./data}
`)
	if err := os.WriteFile(filepath.Join(filepath.Dir(file), "data"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--dry-run"}, {"-d"}} {
		r := shoal(t, append(append([]string{"stack", "deploy"}, args...), "-c", file, "half")...)
		if r.code != 1 {
			t.Fatalf("deploy %v with bad routing labels: %s", args, r)
		}
		for _, want := range []string{
			"stack.yml:11:9: services.b.deploy.labels.traefik.http.routers.b.rule:",
			"stack.yml:13:9: services.b.deploy.labels.traefik.http.routers.c.service:",
			// A missing label is placed at the labels.
			"stack.yml:10:7: services.b.deploy.labels.traefik.http.services.b.loadbalancer.server.port: required",
			// Every check, not only the first failing one.
			"stack.yml:18:16: services.c.deploy.labels.traefik.http.routers.d.rule: column 1: unknown matcher Nope",
			"stack.yml:21:23: services.c.deploy.placement.constraints[0]:",
			"stack.yml:25:5: networks.back.driver: invalid network driver",
		} {
			if n := strings.Count(r.stderr, want); n != 1 {
				t.Errorf("deploy %v: %q appears %d times, want once:\n%s", args, want, n, r)
			}
		}
	}
	if r := shoal(t, "service", "inspect", "half_a"); r.code == 0 {
		t.Error("the refused deploy created service half_a")
	}
	if r := shoal(t, "network", "inspect", "half_default"); r.code == 0 {
		t.Error("the refused deploy created network half_default")
	}
	if r := shoal(t, "config", "inspect", "half_cfg"); r.code == 0 {
		t.Error("the refused deploy created config half_cfg")
	}
}

// TestStackPlanRefusesAnOverlappingSubnet: a stack network whose
// ipam.config subnet overlaps an existing network's fails the plan,
// naming both, before the stack's other networks are created; before,
// the deploy created them and then failed on the overlapping one.
func TestStackPlanRefusesAnOverlappingSubnet(t *testing.T) {
	cleanupNetworks(t, "ovl-taken", "ovl_a1", "ovl_b2")
	cleanupServices(t)
	mustShoal(t, "network", "create", "--subnet", "10.91.0.0/16", "ovl-taken")
	file := writeStackFile(t, `
services:
  web:
    command: ["sleep", "300"]
    deploy: {replicas: 0}
    networks: [a1, b2]
networks:
  a1: {}
  b2:
    ipam:
      config: [{subnet: 10.91.3.0/24}]
`)
	for _, args := range [][]string{{"--dry-run"}, {"-d"}} {
		r := shoal(t, append(append([]string{"stack", "deploy"}, args...), "-c", file, "ovl")...)
		if want := "network ovl_b2: subnet 10.91.3.0/24 overlaps subnet 10.91.0.0/16 of network ovl-taken"; r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "nothing was changed") {
			t.Errorf("deploy %v: want %q\n%s", args, want, r)
		}
	}
	if r := shoal(t, "network", "inspect", "ovl_a1"); r.code == 0 {
		t.Error("the refused deploy created network ovl_a1")
	}
}

// TestStackDeployListsEveryProblemAtItsKey: problems that only the
// managers' validation finds (a restart condition, a failure ratio, a
// stop signal), type errors compose-go would stop at, and a schema
// problem, spread over services, are each listed once at their key path
// and file:line:column, by --dry-run and by the deploy alike, and the
// deploy creates nothing. Before, validation's problems were placed at
// the service, and a schema problem hid all the others.
func TestStackDeployListsEveryProblemAtItsKey(t *testing.T) {
	cleanupNetworks(t, "every_default", "every_back")
	cleanupServices(t)
	cleanupObjects(t, "config", "every_cfg")
	file := writeStackFile(t, `services:
  a:
    command: ["sleep", "300"]
    configs: [cfg]
    deploy:
      restart_policy: {condition: sometimes}
  b:
    command: ["sleep", "300"]
    stop_signal: SIGNOPE
    networks: [back]
    deploy:
      replicas: lots
      update_config: {max_failure_ratio: 1.5, order: sideways}
  c:
    command: ["sleep", "300"]
    deploy:
      placement: {max_replicas_per_node: -2}
networks:
  back: {}
configs:
  cfg: {content: "x"}
`)
	want := []string{
		`stack.yml:6:24: services.a.deploy.restart_policy.condition: restart condition "sometimes": want any, on-failure or none`,
		`stack.yml:9:5: services.b.stop_signal: invalid stop signal "SIGNOPE"`,
		`stack.yml:12:7: services.b.deploy.replicas must be an integer, not "lots"`,
		`stack.yml:13:23: services.b.deploy.update_config.max_failure_ratio: update max failure ratio 1.5: want a number from 0 to 1`,
		`stack.yml:13:47: services.b.deploy.update_config.order value must be one of`,
		`stack.yml:17:19: services.c.deploy.placement.max_replicas_per_node must not be negative (got -2)`,
	}
	var lists []string
	for _, args := range [][]string{{"--dry-run"}, {"-d"}} {
		r := shoal(t, append(append([]string{"stack", "deploy"}, args...), "-c", file, "every")...)
		if r.code != 1 {
			t.Fatalf("deploy %v of a file with problems: %s", args, r)
		}
		for _, w := range want {
			if n := strings.Count(r.stderr, w); n != 1 {
				t.Errorf("deploy %v: %q appears %d times, want once:\n%s", args, w, n, r)
			}
		}
		lists = append(lists, r.stderr)
	}
	if lists[0] != lists[1] {
		t.Errorf("--dry-run and the deploy disagree:\n%s\n---\n%s", lists[0], lists[1])
	}
	for _, obj := range [][]string{{"service", "every_a"}, {"service", "every_c"}, {"network", "every_back"}, {"network", "every_default"}, {"config", "every_cfg"}} {
		if r := shoal(t, obj[0], "inspect", obj[1]); r.code == 0 {
			t.Errorf("the refused deploy created %s %s", obj[0], obj[1])
		}
	}
}
