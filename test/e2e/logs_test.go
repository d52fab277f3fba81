package e2e

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// service logs shows a process task's output, prefixed with the task and
// node; --follow streams it as it is written and ends when the task ends.
func TestServiceLogsOfProcessTasks(t *testing.T) {
	_, c := devCluster(t)
	ctx := ctxTimeout(t, 60*time.Second)
	marks := t.TempDir()
	spec := processSpec("talk", 1, "sh", "-c", `echo first line; echo to stderr >&2; while [ ! -f `+marks+`/go ]; do sleep 0.05; done; echo last line`)
	spec.TaskTemplate.RestartPolicy = &api.RestartPolicy{Condition: api.RestartConditionNone}
	if _, err := c.ServiceCreate(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitTasks(t, ctx, c, "talk", "running", nRunning(1))

	followed := make(chan string, 1)
	go func() {
		var out bytes.Buffer
		err := c.ServiceLogs(ctx, "talk", true, &out)
		if err != nil {
			out.WriteString("ERROR: " + err.Error())
		}
		followed <- out.String()
	}()
	// The follower is attached before the task writes its last line.
	var snapshot bytes.Buffer
	for !strings.Contains(snapshot.String(), "to stderr") {
		snapshot.Reset()
		if err := c.ServiceLogs(ctx, "talk", false, &snapshot); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(snapshot.String(), "talk.1.") || !strings.Contains(snapshot.String(), "| first line") {
		t.Errorf("logs without --follow:\n%s", snapshot.String())
	}
	if err := writeFile(marks + "/go"); err != nil {
		t.Fatal(err)
	}
	select {
	case out := <-followed:
		if !strings.Contains(out, "| first line") || !strings.Contains(out, "| last line") || strings.Contains(out, "ERROR") {
			t.Errorf("followed logs:\n%s", out)
		}
	case <-ctx.Done():
		t.Fatal("--follow did not end when the task ended")
	}
}
