package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// goldenNodes are a leader, a reachable manager that is down, a drained
// worker with operator and engine labels, and a paused worker.
func goldenNodes() []*api.Node {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(id, host, role, avail, st string) *api.Node {
		return &api.Node{ID: id, Meta: api.Meta{CreatedAt: at},
			Spec: api.NodeSpec{Role: role, Availability: avail},
			Description: api.NodeDescription{Hostname: host, EngineVersion: "0.1.0-dev", Runtimes: []string{"process", "docker"},
				Platform:  api.Platform{OS: "linux", Architecture: "x86_64"},
				Resources: api.Resources{NanoCPUs: 2e9, MemoryBytes: 2 << 30}},
			Status: api.NodeStatus{State: st, Addr: "10.0.0." + id[len(id)-1:]}}
	}
	w := mk("node3", "worker-a", api.RoleWorker, api.AvailabilityDrain, api.NodeStateReady)
	w.Spec.Labels = map[string]string{"zone": "a", "disk": "ssd"}
	w.Description.EngineLabels = map[string]string{"zone": "b"}
	down := mk("node2", "manager-b", api.RoleManager, api.AvailabilityActive, api.NodeStateDown)
	down.Status.Message = "heartbeat failure"
	return []*api.Node{
		mk("node1", "manager-a", api.RoleManager, api.AvailabilityActive, api.NodeStateReady),
		down, w,
		mk("node4", "worker-b", api.RoleWorker, api.AvailabilityPause, api.NodeStateReady),
	}
}

// TestNodeLsGolden renders `node ls` as docker lays it out: ID (the node
// the CLI talks to starred), HOSTNAME, STATUS, AVAILABILITY, MANAGER
// STATUS, ENGINE VERSION; and with -q and --format.
func TestNodeLsGolden(t *testing.T) {
	for _, tc := range []struct {
		name, tmpl string
		quiet      bool
	}{
		{"ls", "", false},
		{"ls-quiet", "", true},
		{"ls-format", "{{.Hostname}}: {{.Availability}} {{.Runtimes}}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := nodeTable(tc.tmpl, tc.quiet, &out).Write(&out, nodeRows(goldenNodes(), "node1", "node1")); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "node", tc.name+".golden"), out.String())
		})
	}
}

// TestNodeInspectPrettyGolden renders `node inspect --pretty` of every
// kind of node, as docker's.
func TestNodeInspectPrettyGolden(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 1, 2, 5, 4, 5, 0, time.UTC)
	if err := writeNodesPretty(&out, goldenNodes(), "node1", "node1", now); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "node", "inspect-pretty.golden"), out.String())
}

// pendingWith waits until service ref has a pending task whose reason
// (Status.Err) contains msg.
func pendingWith(t *testing.T, ref, msg string) {
	t.Helper()
	waitUntil(t, ref+" pending: "+msg, func(ctx context.Context, c *client.Client) (bool, error) {
		ts, err := serviceTasks(ctx, c, ref)
		for _, tk := range ts {
			if tk.Status.State == api.TaskStatePending && tk.DesiredState == api.TaskStateRunning && strings.Contains(tk.Status.Err, msg) {
				return true, err
			}
		}
		return false, err
	})
}

// TestNodeUpdateOnDev sets the one node's operator labels and
// availability with `node update` and checks where tasks go, and that
// `node rm` refuses the manager.
func TestNodeUpdateOnDev(t *testing.T) {
	cleanupServices(t)
	t.Cleanup(func() { shoal(t, "node", "update", "--availability", "active", "--label-rm", "zone", "self") })
	if r := mustShoal(t, "node", "update", "--label-add", "zone=a", "self"); r.stdout != "self\n" {
		t.Errorf("node update printed %q, want the node as given", r.stdout)
	}
	if got := mustShoal(t, "node", "inspect", "-f", "{{.Spec.Labels.zone}}", "self").stdout; got != "a\n" {
		t.Fatalf("node label zone = %q, want a", got)
	}
	// node.labels.zone matches the label the operator set.
	mustShoal(t, "service", "create", "--name", "za", "--constraint", "node.labels.zone==a", "-d", "--", "sleep", "300")
	mustShoal(t, "service", "create", "--name", "zb", "--constraint", "node.labels.zone==b", "-d", "--", "sleep", "300")
	first := waitRunning(t, "za", 1)[1]
	pendingWith(t, "zb", "no suitable node")

	// Paused: the running task stays, a new one waits.
	mustShoal(t, "node", "update", "--availability", "pause", "self")
	mustShoal(t, "service", "scale", "-d", "za=2")
	pendingWith(t, "za", "no suitable node")
	slots, err := runningSlots(context.Background(), testClient(t), "za")
	if err != nil || slots[1] == nil || slots[1].ID != first.ID {
		t.Fatalf("paused node: running slots %v (%v), want the first task kept", slots, err)
	}
	// Active again: the new task is placed.
	mustShoal(t, "node", "update", "--availability", "active", "self")
	waitRunning(t, "za", 2)

	// Bad input: one clear error, nothing changed.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"node", "update", "--availability", "away", "self"}, ExitUsage, `invalid availability "away"`},
		{[]string{"node", "update", "--label-rm", "nope", "self"}, ExitFailure, "key nope doesn't exist in node's labels"},
		{[]string{"node", "update", "--label-add", "x=1", "nope"}, ExitFailure, "no such node: nope"},
		{[]string{"node", "rm", "self"}, ExitFailure, "is a cluster manager"},
		{[]string{"node", "rm", "--force", "self"}, ExitFailure, "is a cluster manager"},
	} {
		if r := shoal(t, tc.args...); r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: want exit %d saying %q: %s", tc.args, tc.code, tc.want, r)
		}
	}
	if got := mustShoal(t, "node", "inspect", "-f", "{{.Spec.Availability}} {{.Spec.Labels.zone}} {{.Status.State}}", "self").stdout; got != "active a ready\n" {
		t.Errorf("after refused commands the node is %q, want unchanged", got)
	}
}
