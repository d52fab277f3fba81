package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

// jobRow returns service ls's row of service name.
func jobRow(t *testing.T, name string) map[string]string {
	t.Helper()
	for _, row := range parseTable(t, mustShoal(t, "service", "ls").stdout, serviceLsHeaders...).rows {
		if row["NAME"] == name {
			return row
		}
	}
	t.Fatalf("service ls has no row for %s", name)
	return nil
}

// waitCompleted waits until n tasks of service ref have completed, and
// returns the most that ran at once meanwhile.
func waitCompleted(t *testing.T, ref string, n int) (most int) {
	t.Helper()
	waitUntil(t, "completions of "+ref, func(ctx context.Context, c *client.Client) (bool, error) {
		tasks, err := serviceTasks(ctx, c, ref)
		if err != nil {
			return false, err
		}
		running, done := 0, 0
		for _, tk := range tasks {
			switch tk.Status.State {
			case api.TaskStateComplete:
				done++
			case api.TaskStateRunning:
				running++
			}
		}
		most = max(most, running)
		return done >= n, nil
	})
	return most
}

// Jobs run their tasks to completion, and service ls shows how far they
// are as docker does.
func TestServiceLsShowsJobCompletions(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "--name", "batch", "--mode", "replicated-job", "--replicas", "3", "--max-concurrent", "2", "--", "/bin/sh", "-c", "sleep 0.2")
	if most := waitCompleted(t, "batch", 3); most > 2 {
		t.Errorf("%d tasks of the job ran at once, want at most --max-concurrent 2", most)
	}
	row := jobRow(t, "batch")
	if row["MODE"] != "replicated job" || row["REPLICAS"] != "0/0 (3/3 completed)" {
		t.Errorf("service ls: MODE %q REPLICAS %q, want \"replicated job\" \"0/0 (3/3 completed)\"", row["MODE"], row["REPLICAS"])
	}

	pretty := mustShoal(t, "service", "inspect", "--pretty", "batch").stdout
	for _, want := range []string{"Service Mode:\tReplicated Job", "Max Concurrent:\t2", "Total Completions:\t3"} {
		if !strings.Contains(strings.Join(strings.Fields(pretty), "\t"), strings.Join(strings.Fields(want), "\t")) {
			t.Errorf("service inspect --pretty lacks %q:\n%s", want, pretty)
		}
	}

	mustShoal(t, "service", "create", "--name", "once", "--mode", "global-job", "--", "/bin/true")
	waitCompleted(t, "once", 1)
	row = jobRow(t, "once")
	if row["MODE"] != "global job" || row["REPLICAS"] != "0/0 (1/1 completed)" {
		t.Errorf("service ls: MODE %q REPLICAS %q, want \"global job\" \"0/0 (1/1 completed)\"", row["MODE"], row["REPLICAS"])
	}

	// Completed tasks are not started again.
	c, err := client.New(testHost)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := serviceTasks(context.Background(), c, "batch")
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 3 {
		t.Errorf("the job has %d tasks after 3 completions, want 3", len(tasks))
	}
}
