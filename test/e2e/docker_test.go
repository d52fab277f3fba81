package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// imageService is a service of the test app image behind the ingress.
func imageService(name, image string, replicas uint64) api.ServiceSpec {
	spec := api.ServiceSpec{
		Name: name,
		Mode: replicated(replicas),
		TaskTemplate: api.TaskSpec{
			ContainerSpec: api.ContainerSpec{Image: image, Env: []string{"GREETING=hi"}, Labels: map[string]string{"team": "signup"}},
			RestartPolicy: &api.RestartPolicy{Delay: api.DurationPtr(0)},
		},
		EndpointSpec: &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 8080}}},
		Labels: map[string]string{
			"traefik.http.routers.app.rule":                      "PathPrefix(`/`)",
			"traefik.http.services.app.loadbalancer.server.port": "8080",
		},
	}
	return spec
}

func dockerCluster(t *testing.T) (*daemon.Dev, *client.Client, string) {
	t.Helper()
	testutil.RequireDocker(t)
	d, _ := devClusterWith(t, daemon.DevConfig{IngressAddr: "127.0.0.1:0", Docker: true, DrainDelay: 200 * time.Millisecond})
	return d, testutil.DockerClient(t), "http://" + d.IngressAddr()
}

// Containers of a service run as SERVICE.SLOT.TASKID, serve through the
// ingress once healthy, are replaced when removed behind shoal's back
// (`docker rm -f`, as the seed does), and keep their output for
// `service logs`.
func TestDockerServiceRunsContainersAndSelfHeals(t *testing.T) {
	d, dc, base := dockerCluster(t)
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)
	if _, err := c.ServiceCreate(ctx, imageService("web", image, 2)); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "web", "2 healthy containers", nRunning(2))
	for _, tk := range running(tasks) {
		if tk.Status.Health != api.HealthHealthy {
			t.Errorf("task %s health %q: the image's HEALTHCHECK should gate running", tk.ID, tk.Status.Health)
		}
		info, err := dc.ContainerInspect(ctx, tk.Status.RuntimeID, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if name := strings.TrimPrefix(info.Container.Name, "/"); name != tk.FullName() {
			t.Errorf("container name %q, want %q", name, tk.FullName())
		}
		if info.Container.Config.Labels["team"] != "signup" {
			t.Errorf("container labels %v lack the container label", info.Container.Config.Labels)
		}
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "web.") {
		t.Fatalf("through the ingress: %s %s", resp.Status, body)
	}

	victim := running(tasks)[0]
	if _, err := dc.ContainerRemove(ctx, victim.Status.RuntimeID, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, "web", "the removed container replaced", func(ts []*api.Task) bool {
		if !nRunning(2)(ts) {
			return false
		}
		for _, tk := range running(ts) {
			if tk.ID == victim.ID {
				return false
			}
		}
		return true
	})

	var logs bytes.Buffer
	if err := c.ServiceLogs(ctx, "web", false, &logs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "testapp listening") || !strings.Contains(logs.String(), "web.1.") {
		t.Errorf("service logs lack the containers' output:\n%s", logs.String())
	}
}

func TestMissingImageIsRejectedWithTheReason(t *testing.T) {
	d, _, _ := dockerCluster(t)
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 120*time.Second)
	spec := imageService("ghost", "shoal-e2e/does-not-exist:1", 1)
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: api.RestartConditionNone}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "ghost", "the task rejected", func(ts []*api.Task) bool {
		return len(ts) == 1 && ts[0].Status.State == api.TaskStateRejected
	})
	if e := tasks[0].Status.Err; !strings.Contains(e, "image shoal-e2e/does-not-exist:1 not found on node") {
		t.Fatalf("rejection %q should say the image was not found on the node", e)
	}
}

// Restarting the agent (a new dev process on the same data folder) adopts
// the running containers: same tasks, same containers, no duplicates.
func TestAgentRestartAdoptsContainers(t *testing.T) {
	testutil.RequireDocker(t)
	dir := t.TempDir()
	cfg := daemon.DevConfig{DataDir: dir, Logger: quietLog, Docker: true}
	d, err := daemon.StartDev(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:plain", testutil.TestAppDir(), "")
	if _, err := c.ServiceCreate(ctx, imageService("web", image, 2)); err != nil {
		t.Fatal(err)
	}
	before := waitTasks(t, ctx, c, "web", "2 running", nRunning(2))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = daemon.StartDev(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c = clientOf(t, d)
	t.Cleanup(func() {
		removeAll(t, c)
		d.Close()
	})
	after := waitTasks(t, ctx, c, "web", "2 running after the restart", nRunning(2))
	ids := map[string]string{}
	for _, tk := range running(before) {
		ids[tk.ID] = tk.Status.RuntimeID
	}
	for _, tk := range running(after) {
		if ids[tk.ID] != tk.Status.RuntimeID {
			t.Errorf("task %s: container %s, want the adopted %s", tk.ID, tk.Status.RuntimeID, ids[tk.ID])
		}
	}
	dc := testutil.DockerClient(t)
	list, err := dc.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "com.shoal.node.id="+d.NodeID())})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Errorf("%d containers for the node, want exactly 2", len(list.Items))
	}
}

// A container whose main process is killed is replaced; one whose health
// check (the spec's, overriding the image's) fails is stopped, failed with
// the reason, and replaced.
func TestDockerKillAndUnhealthyContainersAreReplaced(t *testing.T) {
	d, dc, _ := dockerCluster(t)
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)
	if _, err := c.ServiceCreate(ctx, imageService("killme", image, 1)); err != nil {
		t.Fatal(err)
	}
	first := running(waitTasks(t, ctx, c, "killme", "running", nRunning(1)))[0]
	if _, err := dc.ContainerKill(ctx, first.Status.RuntimeID, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, c, "killme", "the killed container replaced", func(ts []*api.Task) bool {
		return nRunning(1)(ts) && running(ts)[0].ID != first.ID
	})
	for _, tk := range tasks {
		if tk.ID == first.ID && (tk.Status.State != api.TaskStateFailed || tk.Status.ExitCode == nil || *tk.Status.ExitCode != 137) {
			t.Errorf("killed task: %s exit %v, want failed with 137", tk.Status.State, tk.Status.ExitCode)
		}
	}

	sick := imageService("sick", image, 1)
	sick.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{
		Test:     []string{"CMD", "/app", "health", "--url", "http://127.0.0.1:8080/nope"},
		Interval: api.DurationPtr(500 * time.Millisecond),
		Retries:  u64p(2),
	}
	if _, err := c.ServiceCreate(ctx, sick); err != nil {
		t.Fatal(err)
	}
	tasks = waitTasks(t, ctx, c, "sick", "an unhealthy container failed and replaced", func(ts []*api.Task) bool {
		failed := 0
		for _, tk := range ts {
			if tk.Status.State == api.TaskStateFailed && strings.Contains(tk.Status.Err, "unhealthy") {
				failed++
			}
		}
		return failed >= 1 && len(ts) >= 2
	})
	if n := len(running(tasks)); n != 0 {
		t.Errorf("%d tasks of a never-healthy service are running", n)
	}
}
