package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockerclient "github.com/moby/moby/client"

	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// dockerCLI runs the real docker CLI against sock (the Docker API shoal
// serves), with no Docker daemon in the path.
func dockerCLI(t *testing.T, sock string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	path, err := exec.LookPath("docker")
	if err != nil {
		if os.Getenv("SHOAL_REQUIRE_DOCKER") == "1" {
			t.Fatalf("the docker CLI is required: %v", err)
		}
		t.Skipf("no docker CLI: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	// Its own config folder: no contexts or credentials of the machine's.
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+t.TempDir(), "DOCKER_CONTEXT=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("docker %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// mustDocker runs the docker CLI and fails the test on a non-zero exit.
func mustDocker(t *testing.T, sock, stdin string, args ...string) string {
	t.Helper()
	out, errOut, code := dockerCLI(t, sock, stdin, args...)
	if code != 0 {
		t.Fatalf("docker %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// The seed's commands, typed with the docker CLI itself against shoal's
// Docker API socket: networks, a config and a secret, `stack deploy` of
// the signup stack (the CLI's own compose parser), service ls/ps/logs,
// `service update --force` that waits until it converged, node ls, and
// stack rm.
func TestDockerCLIDeploysAndManagesAStack(t *testing.T) {
	d, _, _ := dockerCluster(t)
	sock := d.DockerSocket()
	if sock == "" {
		t.Fatal("the dev cluster serves no Docker API socket")
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("Docker API socket: %v %v, want mode 0600", fi.Mode(), err)
	}
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 4*time.Minute)
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)
	t.Setenv("APP_IMAGE", image)

	if out := mustDocker(t, sock, "", "info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"); strings.TrimSpace(out) != "active true" {
		t.Fatalf("docker info: %q, want an active manager", out)
	}
	for _, n := range []string{"signup-net", "frontend-net"} {
		mustDocker(t, sock, "", "network", "create", "--driver", "overlay", n)
	}
	mustDocker(t, sock, `{"env":"test"}`, "config", "create", "signup-web-appsettings", "-")
	mustDocker(t, sock, "Server=db;Password=hush", "secret", "create", "signup-web-connectionstrings", "-")
	if out := mustDocker(t, sock, "", "network", "ls", "--filter", "name=signup", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"); strings.TrimSpace(out) != "signup-net overlay swarm" {
		t.Errorf("network ls: %q", out)
	}

	mustDocker(t, sock, "", "stack", "deploy", "-c", filepath.Join("testdata", "signup-docker.yml"), "signup")
	waitTasks(t, ctx, c, "signup_signup-web", "2 healthy web containers", nRunning(2))
	waitTasks(t, ctx, c, "signup_homepage", "the homepage", nRunning(1))
	// The docker CLI counts replicas from the services' status.
	ls := mustDocker(t, sock, "", "service", "ls", "--format", "{{.Name}} {{.Replicas}} {{.Mode}}")
	for _, want := range []string{"signup_signup-web 2/2 replicated", "signup_homepage 1/1 replicated"} {
		if !strings.Contains(ls, want) {
			t.Errorf("service ls lacks %q:\n%s", want, ls)
		}
	}
	if out := mustDocker(t, sock, "", "stack", "ls", "--format", "{{.Name}} {{.Services}}"); strings.TrimSpace(out) != "signup 2" {
		t.Errorf("stack ls: %q", out)
	}
	ps := mustDocker(t, sock, "", "service", "ps", "signup_signup-web", "--format", "{{.Name}} {{.CurrentState}}")
	if strings.Count(ps, "signup_signup-web.") != 2 || strings.Count(ps, "Running") != 2 {
		t.Errorf("service ps:\n%s", ps)
	}
	if out := mustDocker(t, sock, "", "node", "ls", "--format", "{{.Self}} {{.Status}} {{.ManagerStatus}}"); strings.TrimSpace(out) != "true Ready Leader" {
		t.Errorf("node ls: %q", out)
	}

	// README's commands: the CLI's attached update follows the progress
	// to convergence, then service ps shows the replaced tasks.
	out, errOut, code := dockerCLI(t, sock, "", "service", "update", "--force", "signup_signup-web")
	if code != 0 || !strings.Contains(out+errOut, "converged") {
		t.Fatalf("service update --force: exit %d\n%s\n%s", code, out, errOut)
	}
	if v := mustDocker(t, sock, "", "service", "inspect", "signup_signup-web", "--format", "{{.Spec.TaskTemplate.ForceUpdate}} {{.UpdateStatus.State}}"); strings.TrimSpace(v) != "1 completed" {
		t.Errorf("after the forced update: %q, want ForceUpdate 1, completed", v)
	}
	ps = mustDocker(t, sock, "", "service", "ps", "signup_signup-web")
	// "Running" twice a running task: its desired and current state.
	if strings.Count(ps, "Running") != 4 || strings.Count(ps, "\\_ signup_signup-web.") != 2 {
		t.Errorf("service ps after the forced update: want 2 running and 2 replaced tasks\n%s", ps)
	}

	logs := mustDocker(t, sock, "", "service", "logs", "signup_homepage")
	if !strings.Contains(logs, "signup_homepage.1.") || !strings.Contains(logs, "| ") {
		t.Errorf("service logs lack docker's prefixes:\n%s", logs)
	}
	// --tail and --timestamps are shoal's, with the times the engine kept.
	tail := mustDocker(t, sock, "", "service", "logs", "--tail", "1", "--timestamps", "signup_homepage")
	lines := strings.Split(strings.TrimSpace(tail), "\n")
	if len(lines) < 1 || len(lines) > 2 {
		t.Errorf("service logs --tail 1 of one task: %q", tail)
	}
	for _, l := range lines {
		if _, err := time.Parse(time.RFC3339Nano, strings.Fields(l)[0]); err != nil {
			t.Errorf("--timestamps line without its time first: %q", l)
		}
	}

	// A field shoal cannot honour is refused, naming it.
	_, errOut, code = dockerCLI(t, sock, "", "service", "create", "--detach", "--name", "tty", "--tty", image)
	if code == 0 || !strings.Contains(errOut, "ContainerSpec.TTY") {
		t.Errorf("service create --tty: exit %d, %q; want a refusal naming ContainerSpec.TTY", code, errOut)
	}

	// The moby Go client against the same socket.
	mc, err := dockerclient.New(dockerclient.WithHost("unix://"+sock), dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	res, err := mc.ServiceList(ctx, dockerclient.ServiceListOptions{Status: true})
	if err != nil || len(res.Items) != 2 {
		t.Fatalf("moby client ServiceList: %+v %v, want the 2 services", res, err)
	}

	mustDocker(t, sock, "", "stack", "rm", "signup")
	if out := mustDocker(t, sock, "", "service", "ls", "-q"); strings.TrimSpace(out) != "" {
		t.Errorf("services after stack rm: %q", out)
	}
}

// Paths and calls shoal does not serve get a clear error, not a hang or
// a guess: containers and images are not shoal's.
func TestDockerAPIRefusesWhatItDoesNotServe(t *testing.T) {
	d, _ := devClusterWith(t, daemon.DevConfig{})
	sock := d.DockerSocket()
	_, errOut, code := dockerCLI(t, sock, "", "ps")
	if code == 0 || !strings.Contains(errOut, "not served by shoal") {
		t.Errorf("docker ps: exit %d %q, want shoal's refusal", code, errOut)
	}
	_, errOut, code = dockerCLI(t, sock, "", "service", "inspect", "nothing-here")
	if code == 0 || !strings.Contains(errOut, "nothing-here") {
		t.Errorf("inspect of a missing service: exit %d %q", code, errOut)
	}
}

// The docker CLI's attached verbs follow shoal's progress as they follow
// Swarm's: create and scale wait until converged, update then rollback
// restore the spec, a task that cannot start keeps the CLI waiting with
// its error (not "converged"), and node labels set through the CLI are
// the ones constraints match.
func TestDockerCLIFollowsProgress(t *testing.T) {
	d, _, _ := dockerCluster(t)
	sock := d.DockerSocket()
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)

	out := mustDocker(t, sock, "", "service", "create", "--name", "web", "--replicas", "2", image)
	if !strings.Contains(out, "converged") {
		t.Errorf("attached create: %q, want it to wait until converged", out)
	}
	if out := mustDocker(t, sock, "", "service", "scale", "web=3"); !strings.Contains(out, "converged") {
		t.Errorf("attached scale: %q", out)
	}
	mustDocker(t, sock, "", "service", "update", "--env-add", "A=1", "web")
	mustDocker(t, sock, "", "service", "rollback", "web")
	if v := mustDocker(t, sock, "", "service", "inspect", "web", "--format", "{{.UpdateStatus.State}} {{len .Spec.TaskTemplate.ContainerSpec.Env}} {{.Spec.Mode.Replicated.Replicas}}"); strings.TrimSpace(v) != "rollback_completed 0 3" {
		t.Errorf("after update and rollback: %q, want rollback_completed, no env, 3 replicas", v)
	}

	self := strings.TrimSpace(mustDocker(t, sock, "", "node", "inspect", "self", "--format", "{{.ID}}"))
	mustDocker(t, sock, "", "node", "update", "--label-add", "zone=a", self)
	mustDocker(t, sock, "", "service", "create", "--detach", "--name", "zoned", "--constraint", "node.labels.zone==a", image)
	c := clientOf(t, d)
	waitTasks(t, ctxTimeout(t, time.Minute), c, "zoned", "a task on the labelled node", nRunning(1))

	// A task that cannot start: the CLI keeps waiting and shows why.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "service", "create", "--name", "broken", "--entrypoint", "/nonexistent", image)
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+t.TempDir())
	got, _ := cmd.CombinedOutput()
	if strings.Contains(string(got), "converged") || !strings.Contains(string(got), "0 out of 1 tasks") {
		t.Errorf("attached create of a task that cannot start:\n%s\nwant the CLI still waiting, 0 of 1 tasks", got)
	}
}
