package cli

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shoalproject/shoal/api"
)

// TestTaskRows checks the rows of service ps without a cluster: order,
// the \_ marks of a slot's older tasks, names of global tasks, and
// truncation.
func TestTaskRows(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	node := &api.Node{ID: "node0000000000000000000001", Description: api.NodeDescription{Hostname: "host1"}}
	nodes := map[string]*api.Node{node.ID: node}
	cmd := api.TaskSpec{ContainerSpec: api.ContainerSpec{Command: []string{"sleep", "300"}}}
	task := func(id, svc string, slot uint64, age time.Duration, st api.TaskState, desired api.TaskState, errText string) *api.Task {
		return &api.Task{
			ID: id, ServiceName: svc, Slot: slot, NodeID: node.ID, Spec: cmd,
			Meta:         api.Meta{CreatedAt: now.Add(-age)},
			DesiredState: desired,
			Status:       api.TaskStatus{State: st, Timestamp: now.Add(-age), Err: errText},
		}
	}
	longErr := "starting the task failed: " + strings.Repeat("é", 40)
	tasks := []*api.Task{
		task("old1aaaaaaaaaaaaaaaaaaaaa", "web", 1, 2*time.Hour, api.TaskStateFailed, api.TaskStateShutdown, "task: non-zero exit (1)"),
		task("web2aaaaaaaaaaaaaaaaaaaaa", "web", 2, time.Minute, api.TaskStateRunning, api.TaskStateRunning, ""),
		task("new1aaaaaaaaaaaaaaaaaaaaa", "web", 1, 3*time.Second, api.TaskStateRunning, api.TaskStateRunning, ""),
		task("mid1aaaaaaaaaaaaaaaaaaaaa", "web", 1, time.Hour, api.TaskStateRejected, api.TaskStateShutdown, longErr),
		task("api1aaaaaaaaaaaaaaaaaaaaa", "api", 1, time.Second, api.TaskStatePending, api.TaskStateRunning, ""),
		task("glb1aaaaaaaaaaaaaaaaaaaaa", "agent", 0, time.Second, api.TaskStateRunning, api.TaskStateRunning, ""),
	}
	rows := taskRows(tasks, nodes, false, now)
	want := []struct{ id, name, desired, current string }{
		{"glb1aaaaaaaa", "agent." + node.ID[:12], "Running", "Running 1 second ago"},
		{"api1aaaaaaaa", "api.1", "Running", "Pending 1 second ago"},
		{"new1aaaaaaaa", "web.1", "Running", "Running 3 seconds ago"},
		{"mid1aaaaaaaa", ` \_ web.1`, "Shutdown", "Rejected about an hour ago"},
		{"old1aaaaaaaa", ` \_ web.1`, "Shutdown", "Failed 2 hours ago"},
		{"web2aaaaaaaa", "web.2", "Running", "Running about a minute ago"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, w := range want {
		r := rows[i]
		if r.ID != w.id || r.Name != w.name || r.DesiredState != w.desired || r.CurrentState != w.current || r.Node != "host1" || r.Image != "sleep 300" {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
	if got := rows[4].Error; got != `"task: non-zero exit (1)"` {
		t.Errorf("short error = %q, want it whole and quoted", got)
	}
	e := rows[3].Error
	if !utf8.ValidString(e) || !strings.HasPrefix(e, `"starting the task failed: é`) || !strings.HasSuffix(e, `…"`) ||
		utf8.RuneCountInString(e) != maxErrLength+2 {
		t.Errorf("long error = %q, want %d characters ending with … and quoted", e, maxErrLength)
	}
	if rows[2].Error != "" {
		t.Errorf("running task error = %q, want none", rows[2].Error)
	}

	full := taskRows(tasks, nodes, true, now)
	if full[0].Name != "agent."+node.ID || full[2].ID != "new1aaaaaaaaaaaaaaaaaaaaa" || full[3].Error != `"`+longErr+`"` {
		t.Errorf("--no-trunc rows: %+v %+v %+v", full[0], full[2], full[3])
	}
}

func TestImageOrCommand(t *testing.T) {
	for _, tc := range []struct {
		spec       api.ContainerSpec
		trunc, raw string
	}{
		{api.ContainerSpec{Image: "nginx:1.27", Command: []string{"nginx"}}, "nginx:1.27", "nginx:1.27"},
		{api.ContainerSpec{Command: []string{"sleep"}, Args: []string{"300"}}, "sleep 300", "sleep 300"},
		{api.ContainerSpec{Command: []string{strings.Repeat("a", 40)}}, strings.Repeat("a", 40), strings.Repeat("a", 40)},
		{api.ContainerSpec{Command: []string{strings.Repeat("a", 41)}}, strings.Repeat("a", 39) + "…", strings.Repeat("a", 41)},
		{api.ContainerSpec{Command: []string{strings.Repeat("ü", 41)}}, strings.Repeat("ü", 39) + "…", strings.Repeat("ü", 41)},
	} {
		if got := imageOrCommand(tc.spec, true); got != tc.trunc {
			t.Errorf("imageOrCommand(%v, trunc) = %q, want %q", tc.spec, got, tc.trunc)
		}
		if got := imageOrCommand(tc.spec, false); got != tc.raw {
			t.Errorf("imageOrCommand(%v) = %q, want %q", tc.spec, got, tc.raw)
		}
	}
}

// A slot's live task heads it in service ps even when a task of a failed,
// rolled-back update is newer; the rest follow newest first.
func TestTaskRowsLiveTaskHeadsItsSlot(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	task := func(id string, age time.Duration, st, desired api.TaskState) *api.Task {
		return &api.Task{ID: id, ServiceName: "web", Slot: 1, Meta: api.Meta{CreatedAt: now.Add(-age)},
			DesiredState: desired, Status: api.TaskStatus{State: st, Timestamp: now.Add(-age)}}
	}
	tasks := []*api.Task{
		task("olderaaaaaaaaaaaaaaaaaaaa", time.Hour, api.TaskStateShutdown, api.TaskStateShutdown),
		task("failedaaaaaaaaaaaaaaaaaaa", time.Minute, api.TaskStateFailed, api.TaskStateShutdown),
		task("liveaaaaaaaaaaaaaaaaaaaaa", 10*time.Minute, api.TaskStateRunning, api.TaskStateRunning),
	}
	rows := taskRows(tasks, nil, false, now)
	want := []struct{ id, name string }{{"liveaaaaaaaa", "web.1"}, {"failedaaaaaa", ` \_ web.1`}, {"olderaaaaaaa", ` \_ web.1`}}
	for i, w := range want {
		if rows[i].ID != w.id || rows[i].Name != w.name {
			t.Errorf("row %d = %s %q, want %s %q", i, rows[i].ID, rows[i].Name, w.id, w.name)
		}
	}
}
