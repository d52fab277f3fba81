package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/daemon"
	shoaldocker "github.com/shoalproject/shoal/internal/runtime/docker"
	"github.com/shoalproject/shoal/internal/testutil"
)

// foreignListener is a process that took a host port a task left: it
// counts the connections it gets and answers none of them as the task.
type foreignListener struct {
	ln    net.Listener
	conns atomic.Int64
	// first is when the first connection came (UnixNano).
	first atomic.Int64
}

func listenForeign(t *testing.T, addr string) *foreignListener {
	t.Helper()
	var ln net.Listener
	var err error
	// Docker's proxy lets go of the port as the container disconnects;
	// give it a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("take the task's old port %s: %v", addr, err)
	}
	f := &foreignListener{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns.Add(1)
			f.first.CompareAndSwap(0, time.Now().UnixNano())
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nforeign")
			c.Close()
		}
	}()
	return f
}

// getThrough GETs the ingress n times and returns the bodies of the
// answers (the status line for an answer that is not 200).
func getThrough(t *testing.T, base string, n int) []string {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	var out []string
	for range n {
		resp, err := hc.Get(base + "/")
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			out = append(out, resp.Status)
			continue
		}
		out = append(out, string(body))
	}
	return out
}

// answersThrough waits until the task answers through the ingress: a
// container without a health check runs before its program listens.
func answersThrough(t *testing.T, base, taskID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := getThrough(t, base, 1)
		if strings.Contains(got[0], taskID) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("through the ingress: %q, want task %s", got, taskID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A container disconnected from its network loses its host port, and
// connected again gets a new one: the task is taken out of the ingress's
// pool at the disconnection (it keeps running), and routed to on its new
// port once connected, while a foreign listener that took the old port
// gets no request, before or after.
func TestDockerEndpointFollowsNetworkReconnect(t *testing.T) {
	d, dc, base := dockerCluster(t)
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:plain", testutil.TestAppDir(), "")
	if _, err := c.ServiceCreate(ctx, imageService("web", image, 1)); err != nil {
		t.Fatal(err)
	}
	tk := running(waitTasks(t, ctx, c, "web", "1 running", nRunning(1)))[0]
	if len(tk.Endpoints) != 1 {
		t.Fatalf("endpoints %+v", tk.Endpoints)
	}
	old := tk.Endpoints[0].Addr
	answersThrough(t, base, tk.ID)

	if _, err := dc.NetworkDisconnect(ctx, "bridge", client.NetworkDisconnectOptions{Container: tk.Status.RuntimeID, Force: true}); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, "web", "out of the pool, still running", func(ts []*api.Task) bool {
		r := running(ts)
		return len(r) == 1 && r[0].ID == tk.ID && len(r[0].Endpoints) == 0
	})
	// The ingress follows the store's change stream, a moment after the
	// API shows the change: once it has no backend, the old port is taken.
	deadline := time.Now().Add(30 * time.Second)
	for got := getThrough(t, base, 1); got[0] != "503 Service Unavailable"; got = getThrough(t, base, 1) {
		if time.Now().After(deadline) {
			t.Fatalf("the ingress still answers %q for a task without endpoints", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	foreign := listenForeign(t, old)
	for _, got := range getThrough(t, base, 10) {
		if strings.Contains(got, "foreign") {
			t.Fatalf("the ingress sent a request to the foreign listener on the task's old port %s", old)
		}
	}

	if _, err := dc.NetworkConnect(ctx, "bridge", client.NetworkConnectOptions{Container: tk.Status.RuntimeID}); err != nil {
		t.Fatal(err)
	}
	moved := running(waitTasks(t, ctx, c, "web", "on a new port", func(ts []*api.Task) bool {
		r := running(ts)
		return len(r) == 1 && r[0].ID == tk.ID && len(r[0].Endpoints) == 1
	}))[0]
	if now := moved.Endpoints[0].Addr; now == old {
		t.Fatalf("endpoint %s: the old port", now)
	}
	answersThrough(t, base, tk.ID)
	answers := getThrough(t, base, 40)
	for i, got := range answers {
		if !strings.Contains(got, tk.ID) {
			t.Errorf("request %d answered %q, want the task %s on its new port", i, got, tk.ID)
		}
	}
	if n := foreign.conns.Load(); n != 0 {
		t.Errorf("the foreign listener on the old port %s got %d connections", old, n)
	}
}

// A task whose container stays disconnected is failed, saying why, and
// replaced.
func TestDockerUnreachableTaskIsReplaced(t *testing.T) {
	testutil.RequireDocker(t)
	d, _ := devClusterWith(t, daemon.DevConfig{IngressAddr: "127.0.0.1:0", Docker: true, DrainDelay: 200 * time.Millisecond, UnreachableGrace: 500 * time.Millisecond})
	dc := testutil.DockerClient(t)
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:plain", testutil.TestAppDir(), "")
	if _, err := c.ServiceCreate(ctx, imageService("web", image, 1)); err != nil {
		t.Fatal(err)
	}
	tk := running(waitTasks(t, ctx, c, "web", "1 running", nRunning(1)))[0]
	if _, err := dc.NetworkDisconnect(ctx, "bridge", client.NetworkDisconnectOptions{Container: tk.Status.RuntimeID, Force: true}); err != nil {
		t.Fatal(err)
	}
	ts := waitTasks(t, ctx, c, "web", "the disconnected task replaced", func(ts []*api.Task) bool {
		r := running(ts)
		return len(r) == 1 && r[0].ID != tk.ID && len(r[0].Endpoints) == 1
	})
	for _, x := range ts {
		if x.ID == tk.ID {
			if x.Status.State != api.TaskStateFailed || x.Status.Err != "task: published port 8080/tcp lost" {
				t.Errorf("the disconnected task: %+v", x.Status)
			}
		}
	}
}

// A container whose host port changed while no agent ran (disconnected
// and connected again) is adopted on its new port, and a foreign listener
// that took the old port gets no request at any time: the ingress of the
// restarted node, asked from the moment it listens, serves only once it
// has followed the new agent's registration, which took the task's
// endpoints out of the pools (unconfirmed) until the agent had read the
// container again.
func TestAgentRestartAdoptsTheContainersNewPort(t *testing.T) {
	testutil.RequireDocker(t)
	// The same ingress address across the restart, asked all along.
	cfg := daemon.DevConfig{DataDir: t.TempDir(), Logger: quietLog, Docker: true, IngressAddr: freePort(t, "127.0.0.1")}
	d, err := daemon.StartDev(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The task's container outlives the first daemon: it is removed
	// whatever fails before the second one's clean-up is set.
	dc := testutil.DockerClient(t)
	nodeID := d.NodeID()
	t.Cleanup(func() { removeNodeContainers(t, dc, nodeID) })
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 180*time.Second)
	image := testutil.BuildImage(t, "shoal-e2e/app:plain", testutil.TestAppDir(), "")
	if _, err := c.ServiceCreate(ctx, imageService("web", image, 1)); err != nil {
		d.Close()
		t.Fatal(err)
	}
	tk := running(waitTasks(t, ctx, c, "web", "1 running", nRunning(1)))[0]
	base := "http://" + cfg.IngressAddr
	answersThrough(t, base, tk.ID)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.NetworkDisconnect(ctx, "bridge", client.NetworkDisconnectOptions{Container: tk.Status.RuntimeID, Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := dc.NetworkConnect(ctx, "bridge", client.NetworkConnectOptions{Container: tk.Status.RuntimeID}); err != nil {
		t.Fatal(err)
	}
	old := tk.Endpoints[0].Addr
	foreign := listenForeign(t, old)

	// Ask the ingress without a pause from before it listens again.
	stop := make(chan struct{})
	asked := make(chan []string, 1)
	go func() {
		var got []string
		for {
			select {
			case <-stop:
				asked <- got
				return
			default:
			}
			got = append(got, getThrough(t, base, 1)...)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	d, err = daemon.StartDev(context.Background(), cfg)
	if err != nil {
		close(stop)
		<-asked
		t.Fatal(err)
	}
	c = clientOf(t, d)
	t.Cleanup(func() {
		removeAll(t, c)
		d.Close()
	})
	waitTasks(t, ctx, c, "web", "adopted on its new port", func(ts []*api.Task) bool {
		r := running(ts)
		return len(r) == 1 && r[0].ID == tk.ID && len(r[0].Endpoints) == 1 && r[0].Endpoints[0].Addr != old
	})
	answersThrough(t, base, tk.ID)
	close(stop)
	got := <-asked
	for i, a := range getThrough(t, base, 20) {
		if !strings.Contains(a, tk.ID) {
			t.Errorf("request %d after the adoption answered %q, want the adopted task %s", i, a, tk.ID)
		}
	}
	if n := foreign.conns.Load(); n != 0 {
		t.Errorf("the foreign listener on the task's old port %s got %d connections", old, n)
	}
	served := 0
	for _, a := range got {
		if strings.Contains(a, "foreign") {
			t.Fatalf("the ingress answered with the foreign listener's response")
		}
		if strings.Contains(a, tk.ID) {
			served++
		}
	}
	t.Logf("%d requests across the restart, %d answered by the task", len(got), served)
}

// removeNodeContainers force-removes the containers a node's agents
// started (labelled with its node ID).
func removeNodeContainers(t *testing.T, dc *client.Client, nodeID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := dc.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", shoaldocker.LabelNodeID+"="+nodeID)})
	if err != nil {
		t.Errorf("list the node's containers: %v", err)
		return
	}
	for _, ct := range res.Items {
		if _, err := dc.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Errorf("remove container %s: %v", ct.ID, err)
		}
	}
}
