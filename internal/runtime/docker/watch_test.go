package docker

import (
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/testutil"
)

// nextHandle returns the next handle of a Watch channel.
func nextHandle(t *testing.T, ch <-chan runtime.Handle) runtime.Handle {
	t.Helper()
	select {
	case h, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return h
	case <-time.After(testTimeout):
		t.Fatal("no handle from Watch")
	}
	panic("unreachable")
}

// startWatched starts a task of image publishing port 8080 and watches
// it: its spec, handle and endpoint, and the Watch channel with the first
// handle taken out.
func startWatched(t *testing.T, r *Runtime, image string) (runtime.TaskSpec, runtime.Handle, string, <-chan runtime.Handle) {
	t.Helper()
	s := spec(image)
	s.Ports = []api.PortConfig{{TargetPort: 8080}}
	h := start(t, r, s)
	old := endpoint(t, h)
	ch, err := r.Watch(testCtx(t), s.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if got := nextHandle(t, ch); len(got.Endpoints) != 1 || got.Endpoints[0].Addr != old {
		t.Fatalf("first handle %+v, want the endpoint %s", got.Endpoints, old)
	}
	return s, h, old, ch
}

// A container disconnected from its network loses its published ports,
// and connected again gets new host ports: Watch reports both, read from
// the engine after each event, and a Runtime that adopts the container
// afterwards (an agent restart) lists the new ports, not the ones it was
// started with.
func TestWatchFollowsNetworkChanges(t *testing.T) {
	t.Parallel()
	nodeID := newNodeID()
	r := newRuntimeOf(t, nodeID)
	s, h, old, ch := startWatched(t, r, appImage(t))
	ctx := testCtx(t)

	dc := testutil.DockerClient(t)
	if _, err := dc.NetworkDisconnect(ctx, "bridge", client.NetworkDisconnectOptions{Container: h.RuntimeID, Force: true}); err != nil {
		t.Fatal(err)
	}
	if got := nextHandle(t, ch); len(got.Endpoints) != 0 {
		t.Fatalf("after the disconnection: endpoints %+v, want none", got.Endpoints)
	}
	if _, err := dc.NetworkConnect(ctx, "bridge", client.NetworkConnectOptions{Container: h.RuntimeID}); err != nil {
		t.Fatal(err)
	}
	got := nextHandle(t, ch)
	now := endpoint(t, got)
	if now == old {
		t.Fatalf("connected again on the old host port %s", old)
	}
	var root struct {
		TaskID string `json:"taskID"`
	}
	get(t, now, "/", &root)
	if root.TaskID != s.TaskID {
		t.Errorf("the new endpoint %s answered for task %q", now, root.TaskID)
	}

	// A new Runtime of the node (the agent restarted) finds the new port.
	adopter, err := New(ctx, Options{NodeID: nodeID, NodeAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer adopter.Close()
	hs, err := adopter.List(ctx)
	if err != nil || len(hs) != 1 {
		t.Fatalf("list: %+v, %v", hs, err)
	}
	if a := endpoint(t, hs[0]); a != now {
		t.Errorf("adopted with endpoint %s, want %s", a, now)
	}
}

// A port change while the event stream is down is not missed: the stream
// is reopened from the last event's time, and every task read again.
func TestWatchAcrossAStreamCut(t *testing.T) {
	r, proxy, direct, image := newCutRuntime(t)
	_, h, old, ch := startWatched(t, r, image)
	ctx := testCtx(t)

	proxy.cut()
	if _, err := direct.NetworkDisconnect(ctx, "bridge", client.NetworkDisconnectOptions{Container: h.RuntimeID, Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := direct.NetworkConnect(ctx, "bridge", client.NetworkConnectOptions{Container: h.RuntimeID}); err != nil {
		t.Fatal(err)
	}
	for {
		got := nextHandle(t, ch)
		if len(got.Endpoints) == 1 && got.Endpoints[0].Addr != old {
			return
		}
		if len(got.Endpoints) > 1 {
			t.Fatalf("endpoints %+v", got.Endpoints)
		}
	}
}
