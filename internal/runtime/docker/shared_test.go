package docker

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Two nodes' agents on one engine (as shoal demo's extra nodes share the
// host's): each lists, adopts, stops and removes only the containers
// labelled with its own node ID, also after a restart, so neither takes
// over nor removes the other's tasks.
func TestTwoNodesOneEngine(t *testing.T) {
	t.Parallel()
	nodeB := newNodeID()
	a, b := newRuntime(t), newRuntimeOf(t, nodeB)
	s := spec(appImage(t))
	s.Ports = []api.PortConfig{{TargetPort: 8080}}
	h := start(t, a, s)

	mine := func(r *Runtime) []string {
		hs, err := r.List(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range hs {
			ids = append(ids, h.TaskID)
		}
		return ids
	}
	if ids := mine(b); slices.Contains(ids, s.TaskID) {
		t.Errorf("node B lists node A's task %s: %v", s.TaskID, ids)
	}
	for name, err := range map[string]error{
		"wait":   func() error { _, err := b.Wait(testCtx(t), s.TaskID); return err }(),
		"stop":   b.Stop(testCtx(t), s.TaskID, time.Second),
		"remove": b.Remove(testCtx(t), s.TaskID),
		"health": func() error { _, err := b.Health(testCtx(t), s.TaskID); return err }(),
	} {
		if !errors.Is(err, runtime.ErrUnknownTask) {
			t.Errorf("node B's %s of node A's task: %v, want ErrUnknownTask", name, err)
		}
	}
	// Node B's agent restarts: it adopts nothing of A's either.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if ids := mine(newRuntimeOf(t, nodeB)); len(ids) != 0 {
		t.Errorf("node B, restarted, lists %v; want none of node A's", ids)
	}
	if ids := mine(a); !slices.Equal(ids, []string{s.TaskID}) {
		t.Errorf("node A lists %v; want its task %s", ids, s.TaskID)
	}
	var root struct {
		TaskID string `json:"taskID"`
	}
	get(t, h.Endpoints[0].Addr, "/", &root)
	if root.TaskID != s.TaskID {
		t.Errorf("node A's task answered %+v after node B's calls", root)
	}
}

// With PublishAddr the engine publishes the ports there, and the
// endpoints still name the node's address (which the node forwards).
func TestPublishAddr(t *testing.T) {
	t.Parallel()
	node := newNodeID()
	r, err := New(testCtx(t), Options{NodeID: node, NodeAddr: "192.0.2.7", PublishAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	cleanupNode(t, node)
	s := spec(appImage(t))
	s.Ports = []api.PortConfig{{TargetPort: 8080}}
	h := start(t, r, s)
	if len(h.Endpoints) != 1 {
		t.Fatalf("endpoints %+v", h.Endpoints)
	}
	host, port, err := net.SplitHostPort(h.Endpoints[0].Addr)
	if err != nil || host != "192.0.2.7" {
		t.Fatalf("endpoint %+v; want one on the node's address 192.0.2.7", h.Endpoints[0])
	}
	info, err := r.cli.ContainerInspect(testCtx(t), h.RuntimeID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var bound []string
	for _, bs := range info.Container.NetworkSettings.Ports {
		for _, b := range bs {
			bound = append(bound, net.JoinHostPort(b.HostIP.String(), b.HostPort))
		}
	}
	if !slices.Equal(bound, []string{net.JoinHostPort("127.0.0.1", port)}) {
		t.Errorf("the engine bound %v; want 127.0.0.1:%s", bound, port)
	}
	var root struct {
		TaskID string `json:"taskID"`
	}
	get(t, net.JoinHostPort("127.0.0.1", port), "/", &root)
	if root.TaskID != s.TaskID {
		t.Errorf("/ answered %+v", root)
	}
}
