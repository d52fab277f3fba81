package e2e

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// service logs merges the output of tasks on every node: a worker's
// agent streams its tasks' output to the manager over its own link, with
// docker's NAME.SLOT.TASKID@NODE prefixes; --follow sees the lines
// written later, on both nodes, and ends when the tasks end.
func TestServiceLogsAcrossNodes(t *testing.T) {
	ctx := ctxTimeout(t, 2*time.Minute)
	ac, _ := newAgentCluster(t, ctx)
	w := ac.startAgent("agent-l", "127.0.0.2")
	marks := t.TempDir()
	spec := processSpec("talk", 2, "sh", "-c", `echo first line; echo to stderr >&2; while [ ! -f `+marks+`/go ]; do sleep 0.05; done; echo last line`)
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: api.RestartConditionNone}
	if _, err := ac.c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	tasks := waitTasks(t, ctx, ac.c, "talk", "2 running", nRunning(2))
	if n := byNode(tasks)[w.id]; n != 1 {
		t.Fatalf("tasks per node %v, want one on the worker %s", byNode(tasks), w.id)
	}
	var onWorker *api.Task
	for _, tk := range tasks {
		if tk.NodeID == w.id {
			onWorker = tk
		}
	}
	// docker's prefix names the task by its short ID.
	prefix := "talk." + strconv.Itoa(int(onWorker.Slot)) + "." + api.ShortID(onWorker.ID) + "@agent-l"

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	followed := make(chan string, 1)
	go func() {
		var out bytes.Buffer
		if err := ac.c.ServiceLogs(fctx, "talk", true, &out); err != nil {
			out.WriteString("ERROR: " + err.Error())
		}
		followed <- out.String()
	}()
	var snap string
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(snap, "| to stderr") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("logs never showed both tasks' output:\n%s", snap)
		}
		var b bytes.Buffer
		if err := ac.c.ServiceLogs(ctx, "talk", false, &b); err != nil {
			t.Fatal(err)
		}
		snap = b.String()
	}
	if !strings.Contains(snap, prefix) || !lineWith(snap, prefix, "| first line") {
		t.Errorf("logs without --follow lack the worker's task (%s):\n%s", prefix, snap)
	}
	if strings.Contains(snap, "error") {
		t.Errorf("logs show an error:\n%s", snap)
	}
	// One task, by its ID, as docker's `service logs TASK`.
	var one bytes.Buffer
	if err := ac.c.ServiceLogs(ctx, onWorker.ID, false, &one); err != nil {
		t.Fatal(err)
	}
	if !lineWith(one.String(), prefix, "| first line") || strings.Count(one.String(), "| first line") != 1 {
		t.Errorf("logs of task %s:\n%s", onWorker.ID, one.String())
	}
	if err := writeFile(marks + "/go"); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-followed:
		if !lineWith(out, prefix, "| last line") || strings.Count(out, "| last line") != 2 || strings.Contains(out, "ERROR") {
			t.Errorf("followed logs, want both tasks' last lines:\n%s", out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("--follow did not end when the tasks ended")
	}
}

// lineWith reports whether a line of out holds both a and b.
func lineWith(out, a, b string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, a) && strings.Contains(l, b) {
			return true
		}
	}
	return false
}
