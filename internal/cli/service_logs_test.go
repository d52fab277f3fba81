package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// TestServiceLogsFlags checks docker's service logs flags on a process
// service that printed five lines: the prefix (short task ID, full ID,
// none, raw, IDs unresolved), --tail, a task (or task ID prefix) instead
// of a service, and the errors.
func TestServiceLogsFlags(t *testing.T) {
	cleanupServices(t)
	svcID := strings.TrimSpace(mustShoal(t, "service", "create", "-d", "--name", "lg", "--",
		"/bin/sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; exec sleep 300").stdout)
	var task *api.Task
	waitUntil(t, "five lines of lg", func(ctx context.Context, c *client.Client) (bool, error) {
		tasks, err := serviceTasks(ctx, c, "lg")
		if err != nil || len(tasks) != 1 || tasks[0].Status.State != api.TaskStateRunning {
			return false, err
		}
		task = tasks[0]
		var b strings.Builder
		err = c.ServiceLogs(ctx, "lg", false, &b)
		return strings.Count(b.String(), "\n") == 5, err
	})
	info, err := testClient(t).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	self, err := testClient(t).NodeInspect(context.Background(), info.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	host := self.Description.Hostname
	pad := func(p string) string { return fmt.Sprintf("%-30s| ", p) }
	short := pad("lg.1." + api.ShortID(task.ID) + "@" + host)
	want := func(prefix string, nums ...int) string {
		var b strings.Builder
		for _, n := range nums {
			fmt.Fprintf(&b, "%sline%d\n", prefix, n)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		stdout  string
		errPart string
	}{
		{name: "default", args: []string{"lg"}, stdout: want(short, 1, 2, 3, 4, 5)},
		{name: "tail", args: []string{"--tail", "2", "lg"}, stdout: want(short, 4, 5)},
		{name: "tail short flag", args: []string{"-n", "1", "lg"}, stdout: want(short, 5)},
		{name: "tail 0", args: []string{"--tail", "0", "lg"}, stdout: ""},
		{name: "tail all", args: []string{"--tail", "all", "lg"}, stdout: want(short, 1, 2, 3, 4, 5)},
		{name: "raw", args: []string{"--raw", "--tail", "2", "lg"}, stdout: want("", 4, 5)},
		{name: "no task ids", args: []string{"--no-task-ids", "--tail", "1", "lg"}, stdout: want(pad("lg.1@"+host), 5)},
		{name: "no trunc", args: []string{"--no-trunc", "--tail", "1", "lg"}, stdout: want(pad("lg.1."+task.ID+"@"+host), 5)},
		{name: "no resolve", args: []string{"--no-resolve", "--tail", "1", "lg"}, stdout: want(pad(svcID+".1."+api.ShortID(task.ID)+"@"+task.NodeID), 5)},
		{name: "task ID", args: []string{"--tail", "1", task.ID}, stdout: want(short, 5)},
		{name: "task ID prefix", args: []string{"--tail", "1", task.ID[:7]}, stdout: want(short, 5)},
		{name: "details accepted", args: []string{"--details", "--tail", "1", "lg"}, stdout: want(short, 5)},
		{name: "since on a process task", args: []string{"--since", "10m", "lg"},
			stdout: short + "error reading logs: logs of task " + task.ID + ": the process runtime keeps no times of a task's output: --timestamps and --since need the docker runtime\n"},
		{name: "bad tail", args: []string{"--tail", "last", "lg"}, code: ExitUsage, errPart: `invalid --tail "last"`},
		{name: "bad since", args: []string{"--since", "yesterday", "lg"}, code: ExitUsage, errPart: `invalid --since "yesterday"`},
		{name: "missing", args: []string{"nope"}, code: 1, errPart: "no such task or service: nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := shoal(t, append([]string{"service", "logs"}, tc.args...)...)
			if expectExit(t, r, tc.code, tc.errPart) {
				return
			}
			if r.stdout != tc.stdout {
				t.Errorf("printed\n%q\nwant\n%q", r.stdout, tc.stdout)
			}
		})
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"42m", now.Add(-42 * time.Minute)},
		{"2013-01-02T13:23:37Z", time.Date(2013, 1, 2, 13, 23, 37, 0, time.UTC)},
		{"1700000000", time.Unix(1700000000, 0)},
		{"1700000000.5", time.Unix(1700000000, 500000000)},
	} {
		got, err := parseSince(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseSince("soon", now); err == nil {
		t.Error("parseSince(soon) succeeded")
	}
}
