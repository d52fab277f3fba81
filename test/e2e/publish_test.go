package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// publishedWeb is the test app as a process service that publishes
// target port 80 as ports say, and is running only once it serves.
func publishedWeb(name string, replicas uint64, ports ...api.PortConfig) api.ServiceSpec {
	spec := processSpec(name, replicas, testApp)
	spec.EndpointSpec = &api.EndpointSpec{Ports: ports}
	spec.TaskTemplate.ContainerSpec.Healthcheck = &api.HealthCheck{
		Test:     []string{"CMD", testApp, "health"},
		Interval: api.DurationPtr(100 * time.Millisecond),
		Timeout:  api.DurationPtr(5 * time.Second),
		Retries:  u64p(3),
	}
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Delay: api.DurationPtr(0)}
	return spec
}

// askHTTP GETs / at addr until a task answers (the node learns of the
// task through the cluster's change stream, a moment after it runs) and
// returns the ID of the task that answered.
func askHTTP(t *testing.T, addr string) string {
	t.Helper()
	return askHTTPWith(t, &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}, addr)
}

// askHTTPWith is askHTTP with the client hc.
func askHTTPWith(t *testing.T, hc *http.Client, addr string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get("http://" + addr + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var who struct {
				TaskID string `json:"taskID"`
			}
			if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &who) == nil && who.TaskID != "" {
				return who.TaskID
			}
			err = fmt.Errorf("%s: %q", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET http://%s/: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// askUDP sends msg to addr until an answer comes back, and returns it.
func askUDP(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return askUDPOn(t, c, msg)
}

// askUDPOn sends msg on c until an answer comes back, returns it and
// closes c.
func askUDPOn(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	defer c.Close()
	buf := make([]byte, 512)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := c.Write([]byte(msg)); err == nil {
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, err := c.Read(buf); err == nil {
				return string(buf[:n])
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no UDP answer from %s", c.RemoteAddr())
		}
	}
}

// waitPortFree waits until addr can be listened on again: the node closed
// its listener.
func waitPortFree(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still held after the service was removed: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeTCPPort is a port nothing listens on now on any address.
func freeTCPPort(t *testing.T) uint32 {
	t.Helper()
	port, err := testutil.FreePort("")
	if err != nil {
		t.Fatal(err)
	}
	return uint32(port)
}

func publishedPort(t *testing.T, ctx context.Context, c *client.Client, name string) uint32 {
	t.Helper()
	svc, err := c.ServiceInspect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Endpoint == nil || len(svc.Endpoint.Ports) != 1 {
		t.Fatalf("service %s endpoint %+v: want one published port", name, svc.Endpoint)
	}
	return svc.Endpoint.Ports[0].PublishedPort
}

// A port published in ingress mode answers on every node, the ones that
// run no task of the service included, over TCP and UDP; a target-only
// port answers on the port the managers allocated; removing the service
// frees the port on every node.
func TestPublishedPortsAnswerOnEveryNode(t *testing.T) {
	ctx := ctxTimeout(t, 3*time.Minute)
	ac, _ := newAgentCluster(t, ctx)
	ac.startAgent("agent-a", "127.0.0.2")
	ac.startAgent("agent-b", "127.0.0.3")
	onA := []string{"node.hostname==agent-a"}

	web := publishedWeb("web", 1, api.PortConfig{TargetPort: 80, PublishedPort: 18601})
	web.TaskTemplate.Placement = &api.Placement{Constraints: onA}
	_, tasks := createRunning(t, ctx, ac.c, web)
	task := running(tasks)[0]

	echo := processSpec("echo", 1, testApp, "udp-echo")
	echo.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 53, Protocol: "udp", PublishedPort: 18602}}}
	echo.TaskTemplate.Placement = &api.Placement{Constraints: onA}
	_, echoTasks := createRunning(t, ctx, ac.c, echo)

	anon := publishedWeb("anon", 1, api.PortConfig{TargetPort: 80})
	anon.TaskTemplate.Placement = &api.Placement{Constraints: onA}
	_, anonTasks := createRunning(t, ctx, ac.c, anon)
	anonPort := publishedPort(t, ctx, ac.c, "anon")
	if anonPort < 30000 || anonPort > 32767 {
		t.Fatalf("target-only port published on %d, want one of 30000-32767", anonPort)
	}

	for _, node := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		if got := askHTTP(t, node+":18601"); got != task.ID {
			t.Errorf("node %s port 18601 answered by task %s, want %s", node, got, task.ID)
		}
		if got, want := askUDP(t, node+":18602", "ping"), echoTasks[0].ID+":ping"; got != want {
			t.Errorf("node %s UDP port 18602 answered %q, want %q", node, got, want)
		}
		if got := askHTTP(t, net.JoinHostPort(node, strconv.Itoa(int(anonPort)))); got != anonTasks[0].ID {
			t.Errorf("node %s target-only port %d answered by task %s, want %s", node, anonPort, got, anonTasks[0].ID)
		}
	}

	if err := ac.c.ServiceRemove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		waitPortFree(t, node+":18601")
	}
}

// On one node: a target-only port answers on its allocated port, a
// host-mode port is the process task's own port (PORT is the published
// port), and removing the service frees the port.
func TestPublishedPortsOnADevNode(t *testing.T) {
	ctx := ctxTimeout(t, 2*time.Minute)
	d, c := devClusterWith(t, daemon.DevConfig{Publish: daemon.PublishConfig{Addr: "127.0.0.1"}, DrainDelay: 300 * time.Millisecond})

	p := freeTCPPort(t)
	_, tasks := createRunning(t, ctx, c, publishedWeb("web", 2, api.PortConfig{TargetPort: 80, PublishedPort: p}))
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p)))
	seen := map[string]bool{}
	for i := 0; i < 40 && len(seen) < 2; i++ {
		seen[askHTTP(t, addr)] = true
	}
	for _, tk := range tasks {
		if !seen[tk.ID] {
			t.Errorf("task %s never answered on published port %d (answered: %v)", tk.ID, p, seen)
		}
	}
	if ps := d.Mesh().Ports(); len(ps) != 1 || ps[0].Port != fmt.Sprintf("%d/tcp", p) || !ps[0].Listening || len(ps[0].Backends) != 2 {
		t.Errorf("mesh ports %+v", ps)
	}

	_, anon := createRunning(t, ctx, c, publishedWeb("anon", 1, api.PortConfig{TargetPort: 80}))
	anonPort := publishedPort(t, ctx, c, "anon")
	if got := askHTTP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(anonPort)))); got != anon[0].ID {
		t.Errorf("target-only port %d answered by %s, want %s", anonPort, got, anon[0].ID)
	}

	hp := freeTCPPort(t)
	_, host := createRunning(t, ctx, c, publishedWeb("hosted", 1, api.PortConfig{TargetPort: 80, PublishedPort: hp, PublishMode: api.PublishModeHost}))
	want := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hp)))
	if eps := host[0].Endpoints; len(eps) != 1 || eps[0].Addr != want {
		t.Errorf("host-mode task endpoints %+v, want %s", eps, want)
	}
	if got := askHTTP(t, want); got != host[0].ID {
		t.Errorf("host-mode port %d answered by %s, want the task %s", hp, got, host[0].ID)
	}
	for _, ps := range d.Mesh().Ports() {
		if ps.Port == fmt.Sprintf("%d/tcp", hp) {
			t.Errorf("the mesh listens on host-mode port %d: %+v", hp, ps)
		}
	}

	if err := c.ServiceRemove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	waitPortFree(t, addr)
}

// Under steady load through a published port, a start-first update of
// both replicas loses no request: each task leaves the mesh's pool when
// it is marked to stop, and its connections finish during the drain
// delay.
func TestPublishedPortZeroDowntimeUpdate(t *testing.T) {
	_, c := devClusterWith(t, daemon.DevConfig{Publish: daemon.PublishConfig{Addr: "127.0.0.1"}, DrainDelay: 300 * time.Millisecond})
	ctx := ctxTimeout(t, 2*time.Minute)
	p := freeTCPPort(t)
	spec := publishedWeb("web", 2, api.PortConfig{TargetPort: 80, PublishedPort: p})
	spec.UpdateConfig = &api.UpdateConfig{Parallelism: 1, Order: api.UpdateOrderStartFirst, Monitor: api.Duration(300 * time.Millisecond), FailureAction: api.FailureActionRollback}
	svc, _ := createRunning(t, ctx, c, spec)
	base := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p)))
	askHTTP(t, strings.TrimPrefix(base, "http://"))

	stop := make(chan struct{})
	total, failed, done, errs := load(base, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		done.Wait()
	}()
	for release := 2; release <= 3; release++ {
		spec.TaskTemplate.ContainerSpec.Env = []string{"RELEASE=" + strconv.Itoa(release)}
		updateService(t, ctx, c, svc.ID, spec)
		waitService(t, ctx, c, spec.Name, "the update to complete", updateCompleted(2))
	}
	close(stop)
	done.Wait()
	fmt.Printf("MESH-ZERO-DOWNTIME: requests=%d failed=%d\n", total.Load(), failed.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests through the published port failed during the updates: %v", failed.Load(), total.Load(), errs.list)
	}
	if total.Load() < 100 {
		t.Fatalf("only %d requests were sent: the load did not run", total.Load())
	}
}

// A task marked to stop takes no new connections through a published
// port, though it still runs (and would answer) during its drain delay.
// waitStopping waits until service name has a task marked to stop that
// still runs, and a task that stays, and returns them.
func waitStopping(t *testing.T, ctx context.Context, c *client.Client, name string) (stopping, staying *api.Task) {
	t.Helper()
	waitTasks(t, ctx, c, name, "a task marked to stop, still running", func(ts []*api.Task) bool {
		stopping, staying = nil, nil
		for _, tk := range ts {
			switch {
			case tk.DesiredState > api.TaskStateRunning && tk.Status.State == api.TaskStateRunning:
				stopping = tk
			case tk.DesiredState == api.TaskStateRunning && tk.Status.State == api.TaskStateRunning:
				staying = tk
			}
		}
		return stopping != nil && staying != nil
	})
	return stopping, staying
}

func TestPublishedPortDrainsATaskMarkedToStop(t *testing.T) {
	_, c := devClusterWith(t, daemon.DevConfig{Publish: daemon.PublishConfig{Addr: "127.0.0.1"}, DrainDelay: 4 * time.Second})
	ctx := ctxTimeout(t, 2*time.Minute)
	p := freeTCPPort(t)
	spec := publishedWeb("web", 2, api.PortConfig{TargetPort: 80, PublishedPort: p})
	svc, _ := createRunning(t, ctx, c, spec)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p)))
	askHTTP(t, addr)

	spec.Mode = replicated(1)
	updateService(t, ctx, c, svc.ID, spec)
	stopping, staying := waitStopping(t, ctx, c, spec.Name)
	for i := 0; i < 20; i++ {
		if got := askHTTP(t, addr); got != staying.ID {
			t.Fatalf("connection %d went to task %s, marked to stop; want %s", i, got, staying.ID)
		}
	}
	if !alive(pidOf(t, stopping)) {
		t.Fatal("the stopping task had already exited: the drain window was missed, the test proves nothing")
	}
}

// Containers answer on a port published in ingress mode through the
// routing mesh, and on a host-mode port through Docker's own mapping of
// the published port.
func TestPublishedPortsOfContainers(t *testing.T) {
	testutil.RequireDocker(t)
	_, c := devClusterWith(t, daemon.DevConfig{Publish: daemon.PublishConfig{Addr: "127.0.0.1"}, Docker: true, DrainDelay: 200 * time.Millisecond})
	ctx := ctxTimeout(t, 3*time.Minute)
	image := testutil.BuildImage(t, "shoal-e2e/app:1", testutil.TestAppDir(), appHealthcheck)

	p := freeTCPPort(t)
	spec := imageService("web", image, 1)
	spec.Labels = nil
	spec.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 8080, PublishedPort: p}}}
	_, tasks := createRunning(t, ctx, c, spec)
	if got := askHTTP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(p)))); got != tasks[0].ID {
		t.Errorf("ingress-mode port %d answered by %s, want the container task %s", p, got, tasks[0].ID)
	}

	hp := freeTCPPort(t)
	host := imageService("hosted", image, 1)
	host.Labels = nil
	host.EndpointSpec = &api.EndpointSpec{Ports: []api.PortConfig{{TargetPort: 8080, PublishedPort: hp, PublishMode: api.PublishModeHost}}}
	_, hosted := createRunning(t, ctx, c, host)
	if got := askHTTP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hp)))); got != hosted[0].ID {
		t.Errorf("host-mode port %d answered by %s, want the container task %s", hp, got, hosted[0].ID)
	}
}
