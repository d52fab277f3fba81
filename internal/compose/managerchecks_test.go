package compose

import (
	"fmt"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

// TestLoadRefusesWhatTheManagersRefuse: what a manager would refuse on
// the write (the limits of api/limits.go, object names, routing labels,
// Swarm templates that can't expand) fails the load, every problem once,
// so a plan never promises a deploy that stops half-way.
func TestLoadRefusesWhatTheManagersRefuse(t *testing.T) {
	var labels strings.Builder
	for i := 0; i <= api.MaxLabels; i++ {
		fmt.Fprintf(&labels, "      l%d: v\n", i)
	}
	yml := fmt.Sprintf(`services:
  web:
    image: x
    environment: ["ZONE={{.Node.Zone}}"]
    deploy:
      replicas: %d
      labels: ["traefik.http.routers.web.rule=Path(`+"`/`"+`)", "traefik.http.services.web.loadbalancer.server.port=80"]
  api:
    image: x
    deploy:
      labels: {traefik.http.routers.api.rule: "Path("}
networks:
  back:
    labels:
%s`, api.MaxReplicas+1, labels.String())
	yml = strings.Replace(yml, "    image: x\n    deploy:\n      labels: {", "    image: x\n    networks: [back]\n    deploy:\n      labels: {", 1)
	_, err := loadYAML(t, yml, nil)
	if err == nil {
		t.Fatal("Load accepted what the managers refuse")
	}
	msg := err.Error()
	for _, want := range []string{
		fmt.Sprintf("stack.yml:6:7: services.web.deploy.replicas: replicas: %d, more than the %d allowed", api.MaxReplicas+1, api.MaxReplicas),
		"stack.yml:12:16: services.api.deploy.labels.traefik.http.routers.api.rule: syntax error",
		"stack.yml:15:5: networks.back.labels: network labels:",
		`stack.yml:4:19: services.web.environment.ZONE: env "ZONE={{.Node.Zone}}": bad Swarm template`,
	} {
		if n := strings.Count(msg, want); n != 1 {
			t.Errorf("%q appears %d times, want once:\n%s", want, n, msg)
		}
	}
}

// TestEveryProblemOfAServiceIsListedOnce: a service with problems the
// mapping finds (an undefined volume, a negative health interval, an
// unknown mode, a bad endpoint mode) and problems only the managers'
// validation finds (a bad stop signal, a bad restart condition) gets all
// of them listed, and none twice. Before, validation was skipped once
// the mapping had found something.
func TestEveryProblemOfAServiceIsListedOnce(t *testing.T) {
	_, err := loadYAML(t, `services:
  web:
    image: x
    stop_signal: FOO
    volumes: ["nope:/x"]
    healthcheck: {interval: -1s}
    deploy:
      mode: sideways
      endpoint_mode: weird
      restart_policy: {condition: sometimes}
`, nil)
	if err == nil {
		t.Fatal("Load accepted a bad service")
	}
	msg := err.Error()
	for _, want := range []string{
		`stack.yml:4:5: services.web.stop_signal: invalid stop signal "FOO"`,
		`stack.yml:10:24: services.web.deploy.restart_policy.condition: restart condition "sometimes"`,
		`stack.yml:5:15: services.web.volumes[0]: volume "nope" is not defined`,
		"stack.yml:6:19: services.web.healthcheck.interval: -1s must not be negative",
		`stack.yml:8:7: services.web.deploy.mode: mode "sideways" is not supported`,
		`stack.yml:9:7: services.web.deploy.endpoint_mode: endpoint mode "weird"`,
	} {
		if n := strings.Count(msg, want); n != 1 {
			t.Errorf("%q appears %d times, want once:\n%s", want, n, msg)
		}
	}
	// What validation would say again in its own words.
	for _, again := range []string{"interval -1s is negative", "mode: missing"} {
		if strings.Contains(msg, again) {
			t.Errorf("%q: a problem is listed twice:\n%s", again, msg)
		}
	}
	if n := strings.Count(msg, `"weird"`); n != 1 {
		t.Errorf("the endpoint mode is named %d times, want once:\n%s", n, msg)
	}
}

// TestEveryProblemOfAStackIsListedOnceAtItsKey: a file with problems of
// every kind across services (the schema's, types compose-go would stop
// at, the mapping's, routing labels, and those only the managers'
// validation finds) lists each of them once, at its key path and the
// key's file:line:column. Before, the first kind found hid the others (a
// schema problem in one service hid the validation problems of the
// next), compose-go stopped at the first value it could not read, and
// validation's problems were placed at the service.
func TestEveryProblemOfAStackIsListedOnceAtItsKey(t *testing.T) {
	_, err := loadYAML(t, `services:
  web:
    image: x
    stop_signal: FOO
    environment: ["A={{.Nope}}", "B=2"]
    deploy:
      replicas: many
      restart_policy: {condition: sometimes, max_attempts: -1}
      update_config: {parallelism: -1, max_failure_ratio: 2, delay: 2}
  api:
    image: 3
    command: [""]
    init: maybe
    ports: ["80:80/sctp"]
    deploy:
      labels: {traefik.http.routers.api.rule: "Path(", traefik.http.services.api.loadbalancer.server.port: "80"}
  db:
    image: y
    deploy: {mode: sideways, rollback_config: {order: both, failure_action: explode}}
`, nil)
	if err == nil {
		t.Fatal("Load accepted a file with problems")
	}
	msg := err.Error()
	want := []string{
		`stack.yml:4:5: services.web.stop_signal: invalid stop signal "FOO"`,
		`stack.yml:5:19: services.web.environment.A: env "A={{.Nope}}": bad Swarm template`,
		`stack.yml:7:7: services.web.deploy.replicas must be an integer, not "many"`,
		`stack.yml:8:24: services.web.deploy.restart_policy.condition: restart condition "sometimes"`,
		`stack.yml:8:46: services.web.deploy.restart_policy.max_attempts must not be negative (got -1)`,
		`stack.yml:9:23: services.web.deploy.update_config.parallelism must not be negative (got -1)`,
		`stack.yml:9:40: services.web.deploy.update_config.max_failure_ratio: update max failure ratio 2: want a number from 0 to 1`,
		`stack.yml:9:62: services.web.deploy.update_config.delay must be a string`,
		`stack.yml:11:5: services.api.image must be a string`,
		`stack.yml:13:5: services.api.init must be true or false, not "maybe"`,
		`stack.yml:14:13: services.api.ports[0].protocol: port 80: protocol "sctp": want tcp or udp`,
		`stack.yml:16:16: services.api.deploy.labels.traefik.http.routers.api.rule: syntax error`,
		`stack.yml:19:14: services.db.deploy.mode: mode "sideways" is not supported`,
		`stack.yml:19:48: services.db.deploy.rollback_config.order value must be one of`,
		`stack.yml:19:61: services.db.deploy.rollback_config.failure_action: update failure action "explode"`,
	}
	for _, w := range want {
		if n := strings.Count(msg, w); n != 1 {
			t.Errorf("%q appears %d times, want once:\n%s", w, n, msg)
		}
	}
	// Nothing else: no problem said twice in other words, none that only
	// follows from a value refused (api's image, left out, would make its
	// empty command a host program's empty name).
	if n := len(strings.Split(msg, "\n")); n != len(want) {
		t.Errorf("%d problems listed, want %d:\n%s", n, len(want), msg)
	}
}

// TestProblemsUnderAnchorsAndMergesAreListedOnce: a refused value that
// comes from a merge (<<: *anchor) can't be left out of one service
// alone, and a refused key whose value another key aliases can't be
// left out without losing the anchor; the load then lists what the
// checks found, each once, rather than a problem of its own making.
func TestProblemsUnderAnchorsAndMergesAreListedOnce(t *testing.T) {
	for name, yml := range map[string]string{
		"merge": `x-common: &c
  init: maybe
services:
  web:
    <<: *c
    image: x
`,
		"anchor under a refused key": `services:
  web:
    image: x
    nope: &n [a]
    cap_add: *n
`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadYAML(t, yml, nil)
			if err == nil {
				t.Fatal("Load accepted a bad file")
			}
			msg := err.Error()
			for _, line := range strings.Split(msg, "\n") {
				if !strings.Contains(line, "stack.yml:") {
					t.Errorf("a problem without its position: %q\n%s", line, msg)
				}
				if strings.Count(msg, line) != 1 {
					t.Errorf("listed twice: %q", line)
				}
			}
			if strings.Contains(msg, "unknown anchor") || strings.Contains(msg, "compose loader failure") {
				t.Errorf("a problem of the loader's own making:\n%s", msg)
			}
		})
	}
}

// TestAProblemAtTheServiceIsNotHiddenByAnotherKeysRefusal: a service
// with neither image nor command is reported even when another of its
// keys (init) was refused for its type; one whose command was refused
// is not said to lack one.
func TestAProblemAtTheServiceIsNotHiddenByAnotherKeysRefusal(t *testing.T) {
	_, err := loadYAML(t, `services:
  web:
    init: maybe
  api:
    command: 3
`, nil)
	if err == nil {
		t.Fatal("Load accepted a bad file")
	}
	msg := err.Error()
	for _, want := range []string{
		`stack.yml:3:5: services.web.init must be true or false, not "maybe"`,
		`stack.yml:2:3: services.web: no image and no command`,
		`stack.yml:5:5: services.api.command must be`,
	} {
		if n := strings.Count(msg, want); n != 1 {
			t.Errorf("%q appears %d times, want once:\n%s", want, n, msg)
		}
	}
	if strings.Contains(msg, "services.api: no image") {
		t.Errorf("a problem that follows from the refused command:\n%s", msg)
	}
}
