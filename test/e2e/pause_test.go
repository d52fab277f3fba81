package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	shoalclient "github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// pausedPair runs two replicas of the plain test app behind the ingress
// (labels added to the service's), answering with the given
// response-header timeout, and pauses the first with `docker pause`
// (unpaused at the end, whatever happens). It returns the ingress's
// address, the paused task, the other one and the unpause.
func pausedPair(t *testing.T, headerTimeout time.Duration, labels map[string]string) (c *shoalclient.Client, base string, paused, live *api.Task, unpause func()) {
	t.Helper()
	testutil.RequireDocker(t)
	d, _ := devClusterWith(t, daemon.DevConfig{IngressAddr: "127.0.0.1:0", Docker: true, DrainDelay: 200 * time.Millisecond,
		IngressResponseHeaderTimeout: headerTimeout})
	dc := testutil.DockerClient(t)
	c = clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:plain", testutil.TestAppDir(), "")
	spec := imageService("web", image, 2)
	for k, v := range labels {
		spec.Labels[k] = v
	}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	ts := running(waitTasks(t, ctx, c, "web", "2 running", nRunning(2)))
	paused, live = ts[0], ts[1]
	base = "http://" + d.IngressAddr()
	answersThrough(t, base, paused.ID)
	answersThrough(t, base, live.ID)
	id := paused.Status.RuntimeID
	if _, err := dc.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		t.Fatal(err)
	}
	done := false
	unpause = func() {
		if done {
			return
		}
		done = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := dc.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
			t.Errorf("unpause %s: %v", id, err)
		}
	}
	// Before the cluster's clean-up (registered earlier, so run later):
	// a paused container's stop would wait for its grace period.
	t.Cleanup(unpause)
	return c, base, paused, live, unpause
}

// stillRunning fails the test unless the tasks still run: a paused
// container is not a failed task (Swarm does nothing either).
func stillRunning(t *testing.T, c *shoalclient.Client, tasks ...*api.Task) {
	t.Helper()
	ts := running(waitTasks(t, ctxTimeout(t, 30*time.Second), c, "web", "2 running", nRunning(2)))
	for _, want := range tasks {
		found := false
		for _, tk := range ts {
			found = found || tk.ID == want.ID
		}
		if !found {
			t.Errorf("task %s no longer runs: the pause replaced it", want.ID)
		}
	}
}

// A paused task with an active health check is taken out of rotation by
// it (its check times out) and comes back once unpaused; the task itself
// stays running.
func TestPausedTaskLeavesRotationByItsHealthCheck(t *testing.T) {
	c, base, paused, live, unpause := pausedPair(t, 0, map[string]string{
		"traefik.http.services.app.loadbalancer.healthcheck.path":     "/health",
		"traefik.http.services.app.loadbalancer.healthcheck.interval": "300ms",
		"traefik.http.services.app.loadbalancer.healthcheck.timeout":  "200ms",
	})
	// Out of rotation once its check has failed: from then on every
	// request is the live task's, at once.
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := getThrough(t, base, 10)
		if onlyFrom(got, live.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the task %s paused, the ingress still answers %q", paused.ID, got)
		}
	}
	start := time.Now()
	for i, got := range getThrough(t, base, 30) {
		if !strings.Contains(got, live.ID) {
			t.Errorf("request %d with the paused task out of rotation answered %q, want the live task %s", i, got, live.ID)
		}
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("30 requests took %v: some waited for the paused task", took)
	}
	unpause()
	answersThrough(t, base, paused.ID)
	stillRunning(t, c, paused, live)
}

// A paused task without a health check stays in rotation, as in Swarm:
// a request sent to it is answered 504 once the response-header timeout
// has passed, and the balancer then leaves the task out of new picks for
// a while, so the requests that follow are the live task's.
func TestPausedTaskWithoutHealthCheckTimesOut(t *testing.T) {
	const headerTimeout = time.Second
	c, base, paused, live, unpause := pausedPair(t, headerTimeout, nil)
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	timedOut := 0
	after504 := 0 // requests sent right after a 504
	last504 := time.Time{}
	for i := range 12 {
		sent := time.Now()
		resp, err := hc.Get(base + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(sent)
		switch {
		case resp.StatusCode == http.StatusGatewayTimeout:
			timedOut++
			if took < headerTimeout || took > headerTimeout+2*time.Second {
				t.Errorf("request %d: 504 after %v, want it after the response-header timeout of %v", i, took, headerTimeout)
			}
			if !last504.IsZero() && sent.Sub(last504) < time.Second {
				t.Errorf("request %d: the paused task was picked again %v after its 504", i, sent.Sub(last504))
			}
			last504 = time.Now()
		case resp.StatusCode == http.StatusOK && strings.Contains(string(body), live.ID):
			if !last504.IsZero() && sent.Sub(last504) < time.Second {
				after504++
			}
		default:
			t.Errorf("request %d: %s %q", i, resp.Status, body)
		}
	}
	if timedOut == 0 {
		t.Fatalf("no request reached the paused task %s: the test proves nothing", paused.ID)
	}
	if after504 == 0 {
		t.Errorf("no request followed a 504 within the task's rest")
	}
	t.Logf("%d of 12 requests timed out on the paused task", timedOut)
	unpause()
	answersThrough(t, base, paused.ID)
	stillRunning(t, c, paused, live)
}

// onlyFrom reports whether every answer came from the task id.
func onlyFrom(answers []string, id string) bool {
	for _, a := range answers {
		if !strings.Contains(a, id) {
			return false
		}
	}
	return true
}
