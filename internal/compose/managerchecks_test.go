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
