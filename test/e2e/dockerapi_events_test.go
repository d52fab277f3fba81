package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// `docker events` itself (the CLI, not only the API) follows shoal's
// changes with docker's words and its --filter and --format: a config
// created, a service created and removed, and nothing of the types the
// filter leaves out. shoal keeps no event history, so the test makes
// changes until the CLI, once connected, prints the first one.
func TestDockerCLIEvents(t *testing.T) {
	d, _ := devCluster(t)
	sock := d.DockerSocket()
	path, err := exec.LookPath("docker")
	if err != nil {
		if os.Getenv("SHOAL_REQUIRE_DOCKER") == "1" {
			t.Fatalf("the docker CLI is required: %v", err)
		}
		t.Skipf("no docker CLI: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "events",
		"--filter", "type=config", "--filter", "type=service",
		"--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Scope}}")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+t.TempDir(), "DOCKER_CONTEXT=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("docker events ended before %s", what)
			}
			return l
		case <-ctx.Done():
			t.Fatalf("docker events printed no %s", what)
		}
		return ""
	}

	// Until the CLI is connected, changes go unseen: create configs until
	// one is printed.
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	var first string
	for n := 0; first == ""; n++ {
		mustDocker(t, sock, "x", "config", "create", fmt.Sprintf("ev-%d", n), "-")
		select {
		case l := <-lines:
			first = l
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("docker events printed nothing while configs were created")
		}
	}
	if !strings.HasPrefix(first, "config create ev-") || !strings.HasSuffix(first, " swarm") {
		t.Fatalf("first event %q, want `config create ev-N swarm`", first)
	}
	// Configs created before the first one was seen are skipped below.
	mustDocker(t, sock, "", "network", "create", "--driver", "overlay", "ev-net") // filtered out
	mustDocker(t, sock, "", "service", "create", "--detach", "--name", "evsvc", "busybox")
	mustDocker(t, sock, "", "service", "rm", "evsvc")
	// Between the create and the remove shoal may report updates of the
	// service (its endpoint, its status); the network's create is
	// filtered out.
	var got []string
	for len(got) == 0 || got[len(got)-1] != "service remove evsvc swarm" {
		l := next("service removal")
		if strings.HasPrefix(l, "config create ev-") {
			continue
		}
		got = append(got, l)
		if !strings.HasPrefix(l, "service ") || !strings.Contains(l, " evsvc ") {
			t.Errorf("event %q: want only evsvc's service events (the network's create filtered out)", l)
		}
	}
	if got[0] != "service create evsvc swarm" {
		t.Errorf("events %q: want `service create evsvc swarm` first", got)
	}
}
