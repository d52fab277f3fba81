package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
)

var (
	serviceLsHeaders = []string{"ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"}
	taskHeaders      = []string{"ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR", "PORTS"}
	psHeaders        = []string{"TASK ID", "NAME", "RUNTIME ID", "COMMAND", "CREATED", "STATUS", "PORTS"}
	nodeLsHeaders    = []string{"ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER STATUS", "ENGINE VERSION"}
)

// TestServiceLifecycle follows one service from creation to removal
// through every service, node and ps command.
func TestServiceLifecycle(t *testing.T) {
	cleanupServices(t)

	r := mustShoal(t, "service", "create", "--name", "web", "--replicas", "3", "--restart-delay", "0s", "-d", "--", "sleep", "300")
	id := strings.TrimSpace(r.stdout)
	if len(id) != api.IDLength || strings.ContainsAny(id, " \n") {
		t.Fatalf("service create -d printed %q, want a %d-character service ID", r.stdout, api.IDLength)
	}
	if r.stderr != "" {
		t.Errorf("service create -d wrote to stderr: %q", r.stderr)
	}
	slots := waitRunning(t, "web", 3)

	t.Run("ls", func(t *testing.T) {
		tb := parseTable(t, mustShoal(t, "service", "ls").stdout, serviceLsHeaders...)
		if len(tb.rows) != 1 {
			t.Fatalf("service ls rows = %v, want one", tb.rows)
		}
		row := tb.rows[0]
		want := map[string]string{"ID": id[:12], "NAME": "web", "MODE": "replicated", "REPLICAS": "3/3", "IMAGE": "sleep 300", "PORTS": ""}
		for k, v := range want {
			if row[k] != v {
				t.Errorf("service ls %s = %q, want %q", k, row[k], v)
			}
		}
	})

	t.Run("ls -q", func(t *testing.T) {
		got := lines(mustShoal(t, "service", "ls", "-q").stdout)
		if len(got) != 1 || got[0] != id[:12] {
			t.Errorf("service ls -q = %q, want [%q]", got, id[:12])
		}
	})

	t.Run("ls --format template", func(t *testing.T) {
		if got := mustShoal(t, "service", "ls", "--format", "{{.Name}} {{.Replicas}}").stdout; got != "web 3/3\n" {
			t.Errorf("service ls --format = %q, want %q", got, "web 3/3\n")
		}
	})

	t.Run("ls --format json", func(t *testing.T) {
		got := lines(mustShoal(t, "service", "ls", "--format", "json").stdout)
		if len(got) != 1 {
			t.Fatalf("service ls --format json = %q, want one line", got)
		}
		var row map[string]any
		if err := json.Unmarshal([]byte(got[0]), &row); err != nil {
			t.Fatalf("service ls --format json line %q: %v", got[0], err)
		}
		if row["Name"] != "web" || row["Replicas"] != "3/3" || row["Mode"] != "replicated" || row["ID"] != id[:12] {
			t.Errorf("service ls --format json = %v", row)
		}
	})

	t.Run("ls --format table", func(t *testing.T) {
		got := lines(mustShoal(t, "service", "ls", "--format", "table {{.Name}}").stdout)
		if len(got) != 2 || strings.TrimSpace(got[0]) != "NAME" || strings.TrimSpace(got[1]) != "web" {
			t.Errorf("service ls --format 'table {{.Name}}' = %q, want [NAME web]", got)
		}
	})

	t.Run("ps", func(t *testing.T) {
		tb := parseTable(t, mustShoal(t, "service", "ps", "web").stdout, taskHeaders...)
		if len(tb.rows) != 3 {
			t.Fatalf("service ps web: %d rows, want 3: %v", len(tb.rows), tb.rows)
		}
		host, _ := os.Hostname()
		for i, row := range tb.rows {
			slot := uint64(i + 1)
			if want := fmt.Sprintf("web.%d", slot); row["NAME"] != want {
				t.Errorf("row %d NAME = %q, want %q", i, row["NAME"], want)
			}
			if want := api.ShortID(slots[slot].ID); row["ID"] != want {
				t.Errorf("row %d ID = %q, want %q", i, row["ID"], want)
			}
			if row["IMAGE"] != "sleep 300" {
				t.Errorf("row %d IMAGE = %q, want %q", i, row["IMAGE"], "sleep 300")
			}
			if host != "" && row["NODE"] != host {
				t.Errorf("row %d NODE = %q, want the hostname %q", i, row["NODE"], host)
			}
			if row["DESIRED STATE"] != "Running" {
				t.Errorf("row %d DESIRED STATE = %q, want Running", i, row["DESIRED STATE"])
			}
			if cs := row["CURRENT STATE"]; !strings.HasPrefix(cs, "Running ") || !strings.HasSuffix(cs, " ago") {
				t.Errorf("row %d CURRENT STATE = %q, want Running ... ago", i, cs)
			}
			if row["ERROR"] != "" {
				t.Errorf("row %d ERROR = %q, want none", i, row["ERROR"])
			}
		}
	})

	t.Run("shoal ps", func(t *testing.T) {
		tb := parseTable(t, mustShoal(t, "ps").stdout, psHeaders...)
		if len(tb.rows) != 3 {
			t.Fatalf("shoal ps: %d rows, want 3: %v", len(tb.rows), tb.rows)
		}
		for _, row := range tb.rows {
			var task *api.Task
			for _, tk := range slots {
				if row["NAME"] == "web."+strconv.FormatUint(tk.Slot, 10)+"."+tk.ID {
					task = tk
				}
			}
			if task == nil {
				t.Errorf("shoal ps NAME %q is none of the running tasks' web.SLOT.TASKID", row["NAME"])
				continue
			}
			if row["TASK ID"] != api.ShortID(task.ID) {
				t.Errorf("shoal ps TASK ID = %q, want %q", row["TASK ID"], api.ShortID(task.ID))
			}
			if row["RUNTIME ID"] != task.Status.RuntimeID {
				t.Errorf("shoal ps RUNTIME ID = %q, want the task's %q", row["RUNTIME ID"], task.Status.RuntimeID)
			}
			checkLiveSleep(t, row["RUNTIME ID"])
			if row["COMMAND"] != "sleep 300" || !strings.HasPrefix(row["STATUS"], "Up ") {
				t.Errorf("shoal ps COMMAND %q STATUS %q, want sleep 300, Up ...", row["COMMAND"], row["STATUS"])
			}
		}
	})

	t.Run("shoal ps -q", func(t *testing.T) {
		got := lines(mustShoal(t, "ps", "-q").stdout)
		want := map[string]bool{}
		for _, tk := range slots {
			want[api.ShortID(tk.ID)] = true
		}
		if len(got) != 3 {
			t.Fatalf("shoal ps -q = %q, want 3 task IDs", got)
		}
		for _, g := range got {
			if !want[g] {
				t.Errorf("shoal ps -q printed %q, not a running task's ID (%v)", g, want)
			}
		}
	})

	t.Run("shoal ps filter and format", func(t *testing.T) {
		got := lines(mustShoal(t, "ps", "-f", "name=web.2", "--format", "{{.Name}}").stdout)
		if want := "web.2." + slots[2].ID; len(got) != 1 || got[0] != want {
			t.Errorf("shoal ps -f name=web.2 --format {{.Name}} = %q, want [%q]", got, want)
		}
		got = lines(mustShoal(t, "ps", "--format", "{{.RuntimeID}}").stdout)
		if len(got) != 3 {
			t.Fatalf("shoal ps --format {{.RuntimeID}} = %q, want 3 PIDs", got)
		}
		for _, pid := range got {
			checkLiveSleep(t, pid)
		}
	})

	t.Run("node ps", func(t *testing.T) {
		tb := parseTable(t, mustShoal(t, "node", "ps").stdout, taskHeaders...)
		names := map[string]bool{}
		for _, row := range tb.rows {
			names[row["NAME"]] = true
		}
		for _, n := range []string{"web.1", "web.2", "web.3"} {
			if !names[n] {
				t.Errorf("node ps does not list %s: %v", n, tb.rows)
			}
		}
		if len(tb.rows) != 3 {
			t.Errorf("node ps: %d rows, want 3", len(tb.rows))
		}
	})

	t.Run("inspect", func(t *testing.T) {
		var svcs []api.Service
		out := mustShoal(t, "service", "inspect", "web").stdout
		if err := json.Unmarshal(ownJSON(out), &svcs); err != nil {
			t.Fatalf("service inspect is not a JSON array of services: %v\n%s", err, out)
		}
		if len(svcs) != 1 || svcs[0].Spec.Name != "web" || svcs[0].ID != id {
			t.Errorf("service inspect web = %+v", svcs)
		}
		if got := mustShoal(t, "service", "inspect", "--format", "{{.Spec.Name}}", "web").stdout; got != "web\n" {
			t.Errorf("service inspect --format = %q, want %q", got, "web\n")
		}
		// By ID prefix too.
		if got := mustShoal(t, "service", "inspect", "-f", "{{.ID}}", id[:12]).stdout; got != id+"\n" {
			t.Errorf("service inspect by short ID = %q, want %q", got, id+"\n")
		}
	})

	t.Run("task replaced after its process is killed", func(t *testing.T) {
		old := slots[1]
		pid, err := strconv.Atoi(old.Status.RuntimeID)
		if err != nil || pid <= 0 {
			t.Fatalf("task %s RuntimeID %q is not a PID", old.ID, old.Status.RuntimeID)
		}
		if err := killProcess(pid); err != nil {
			t.Fatalf("kill task process %d: %v", pid, err)
		}
		waitUntil(t, "web.1 to be replaced", func(ctx context.Context, c *client.Client) (bool, error) {
			tasks, err := serviceTasks(ctx, c, "web")
			if err != nil {
				return false, err
			}
			replaced, failed := false, false
			for _, tk := range tasks {
				switch {
				case tk.ID == old.ID:
					failed = tk.Status.State == api.TaskStateFailed && tk.DesiredState == api.TaskStateShutdown
				case tk.Slot == 1:
					replaced = tk.Status.State == api.TaskStateRunning
				}
			}
			return replaced && failed, nil
		})
		r := mustShoal(t, "service", "ps", "web")
		tb := parseTable(t, r.stdout, taskHeaders...)
		if len(tb.rows) != 4 {
			t.Fatalf("service ps web: %d rows, want 4:\n%s", len(tb.rows), r.stdout)
		}
		cur, prev := tb.rows[0], tb.rows[1]
		if cur["NAME"] != "web.1" || cur["ID"] == api.ShortID(old.ID) || !strings.HasPrefix(cur["CURRENT STATE"], "Running ") {
			t.Errorf("first row = %v, want the new running web.1", cur)
		}
		if got := tb.raw[1]["NAME"]; got != ` \_ web.1` {
			t.Errorf("second row NAME = %q, want %q", got, ` \_ web.1`)
		}
		if prev["ID"] != api.ShortID(old.ID) {
			t.Errorf("second row ID = %q, want the killed task %q", prev["ID"], api.ShortID(old.ID))
		}
		if prev["DESIRED STATE"] != "Shutdown" {
			t.Errorf("second row DESIRED STATE = %q, want Shutdown", prev["DESIRED STATE"])
		}
		if cs := prev["CURRENT STATE"]; !strings.HasPrefix(cs, "Failed ") || !strings.HasSuffix(cs, " ago") {
			t.Errorf("second row CURRENT STATE = %q, want Failed ... ago", cs)
		}
		if e := prev["ERROR"]; len(e) < 3 || !strings.HasPrefix(e, `"`) || !strings.HasSuffix(e, `"`) || !strings.Contains(e, "non-zero exit (137)") {
			t.Errorf("second row ERROR = %q, want the quoted exit error", e)
		}
		if cur["ERROR"] != "" {
			t.Errorf("new task ERROR = %q, want none", cur["ERROR"])
		}
		for i, want := range []string{"web.2", "web.3"} {
			if got := tb.rows[i+2]["NAME"]; got != want {
				t.Errorf("row %d NAME = %q, want %q", i+2, got, want)
			}
		}
		// --no-trunc shows full IDs and the whole error.
		tb = parseTable(t, mustShoal(t, "service", "ps", "--no-trunc", "web").stdout, taskHeaders...)
		if tb.rows[1]["ID"] != old.ID || !strings.Contains(tb.rows[1]["ERROR"], "non-zero exit (137)") {
			t.Errorf("service ps --no-trunc second row = %v", tb.rows[1])
		}
		// The old task is history: -f desired-state=running hides it.
		tb = parseTable(t, mustShoal(t, "service", "ps", "-f", "desired-state=running", "web").stdout, taskHeaders...)
		if len(tb.rows) != 3 {
			t.Errorf("service ps -f desired-state=running: %d rows, want 3: %v", len(tb.rows), tb.rows)
		}
	})

	t.Run("scale up", func(t *testing.T) {
		r := mustShoal(t, "service", "scale", "web=5")
		if !strings.Contains(r.stdout, "web scaled to 5") || !strings.Contains(r.stdout, "verify: Service converged") {
			t.Errorf("service scale web=5 printed:\n%s", r.stdout)
		}
		tb := parseTable(t, mustShoal(t, "service", "ls").stdout, serviceLsHeaders...)
		if len(tb.rows) != 1 || tb.rows[0]["REPLICAS"] != "5/5" {
			t.Errorf("service ls after scale = %v, want REPLICAS 5/5", tb.rows)
		}
	})

	t.Run("update replicas down", func(t *testing.T) {
		r := mustShoal(t, "service", "update", "web", "--replicas", "2")
		if !strings.HasPrefix(r.stdout, "web\n") {
			t.Errorf("service update printed:\n%s", r.stdout)
		}
		tb := parseTable(t, mustShoal(t, "service", "ls").stdout, serviceLsHeaders...)
		if len(tb.rows) != 1 || tb.rows[0]["REPLICAS"] != "2/2" {
			t.Errorf("service ls after update = %v, want REPLICAS 2/2", tb.rows)
		}
		waitUntil(t, "the tasks of slots 3-5 to be gone", func(ctx context.Context, c *client.Client) (bool, error) {
			tasks, err := serviceTasks(ctx, c, "web")
			if err != nil {
				return false, err
			}
			for _, tk := range tasks {
				if tk.Slot > 2 {
					return false, nil
				}
			}
			return true, nil
		})
		tb = parseTable(t, mustShoal(t, "service", "ps", "web").stdout, taskHeaders...)
		for _, row := range tb.rows {
			if n := strings.TrimPrefix(row["NAME"], `\_ `); n != "web.1" && n != "web.2" {
				t.Errorf("service ps after scaling down lists %q", row["NAME"])
			}
		}
		if got := lines(mustShoal(t, "ps", "-q").stdout); len(got) != 2 {
			t.Errorf("shoal ps after scaling down = %q, want 2 tasks", got)
		}
	})

	t.Run("rm", func(t *testing.T) {
		if got := mustShoal(t, "service", "rm", "web").stdout; got != "web\n" {
			t.Errorf("service rm web printed %q, want %q", got, "web\n")
		}
		r := mustShoal(t, "service", "ls")
		tb := parseTable(t, r.stdout, serviceLsHeaders...)
		if len(tb.rows) != 0 {
			t.Errorf("service ls after rm:\n%s", r.stdout)
		}
		if got := mustShoal(t, "service", "ls", "-q").stdout; got != "" {
			t.Errorf("service ls -q after rm = %q, want nothing", got)
		}
		waitUntil(t, "the tasks of web to be gone", func(ctx context.Context, c *client.Client) (bool, error) {
			tasks, err := c.TaskList(ctx, client.TaskFilter{})
			return len(tasks) == 0, err
		})
		if r := shoal(t, "service", "ps", "web"); r.code != 1 || !strings.Contains(r.stderr, "no such service: web") {
			t.Errorf("service ps of a removed service: %s", r)
		}
	})
}

// checkLiveSleep checks that pid names a live `sleep` process.
func checkLiveSleep(t *testing.T, pid string) {
	t.Helper()
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		t.Errorf("RUNTIME ID %q is not a PID", pid)
		return
	}
	if err := processAlive(n); err != nil {
		t.Errorf("RUNTIME ID %d is not a live process: %v", n, err)
		return
	}
	if goruntime.GOOS == "linux" {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", n))
		if err == nil && !strings.HasPrefix(string(b), "sleep\x00300") {
			t.Errorf("process %d runs %q, want sleep 300", n, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// slotLine is a task row of the progress: "2/3: running   [===>]".
var slotLine = regexp.MustCompile(`^(\d+)/\d+: (.*)$`)

// TestServiceCreateWaitsForConvergence checks the progress a service
// create without -d prints.
func TestServiceCreateWaitsForConvergence(t *testing.T) {
	cleanupServices(t)
	r := mustShoal(t, "service", "create", "--name", "conv", "--replicas", "3", "--", "/bin/sh", "-c", "exec sleep 300")
	out := lines(r.stdout)
	if len(out) < 3 {
		t.Fatalf("service create printed:\n%s", r.stdout)
	}
	if len(out[0]) != api.IDLength {
		t.Errorf("first line %q, want the service ID", out[0])
	}
	var progress, verify []string
	slots := map[string]string{}
	for _, l := range out[1 : len(out)-1] {
		if m := slotLine.FindStringSubmatch(l); m != nil {
			slots[m[1]] = m[2]
			continue
		}
		if strings.HasPrefix(l, "verify: ") {
			verify = append(verify, l)
			continue
		}
		if !strings.HasPrefix(l, "overall progress: ") || !strings.HasSuffix(l, " out of 3 tasks") {
			t.Errorf("unexpected line %q", l)
		}
		progress = append(progress, l)
	}
	// Each slot's row ends with its task running, and docker's full bar.
	for _, slot := range []string{"1", "2", "3"} {
		if got, want := slots[slot], "running   [==================================================>]"; got != want {
			t.Errorf("last row of slot %s/3 = %q, want %q", slot, got, want)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1] != "overall progress: 3 out of 3 tasks" {
		t.Errorf("progress lines %q, want them to end with 3 out of 3", progress)
	}
	// As docker's, it watches the running tasks for 5s before it ends.
	if len(verify) == 0 || verify[0] != "verify: Waiting 5 seconds to verify that tasks are stable..." {
		t.Errorf("verify lines %q, want a 5s countdown", verify)
	}
	if out[len(out)-1] != "verify: Service converged" {
		t.Errorf("last line %q, want verify: Service converged", out[len(out)-1])
	}
	// Converged means running: the list agrees without waiting.
	if got := mustShoal(t, "service", "ls", "--format", "{{.Name}} {{.Replicas}} {{.Image}}").stdout; got != "conv 3/3 /bin/sh -c exec sleep 300\n" {
		t.Errorf("service ls after create = %q", got)
	}
	// -q suppresses progress.
	r = mustShoal(t, "service", "update", "-q", "conv", "--replicas", "1")
	if r.stdout != "conv\n" {
		t.Errorf("service update -q printed %q, want only the name", r.stdout)
	}
}

// TestNodeCommands checks node ls and node inspect on the one-node cluster.
func TestNodeCommands(t *testing.T) {
	r := mustShoal(t, "node", "ls")
	tb := parseTable(t, r.stdout, nodeLsHeaders...)
	if len(tb.rows) != 1 {
		t.Fatalf("node ls:\n%s", r.stdout)
	}
	row := tb.rows[0]
	want := map[string]string{
		"ID":             testDev.NodeID() + " *",
		"STATUS":         "Ready",
		"AVAILABILITY":   "Active",
		"MANAGER STATUS": "Leader",
		"ENGINE VERSION": "0.1.0-dev",
	}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("node ls %s = %q, want %q", k, row[k], v)
		}
	}
	if host, _ := os.Hostname(); host != "" && row["HOSTNAME"] != host {
		t.Errorf("node ls HOSTNAME = %q, want %q", row["HOSTNAME"], host)
	}
	if got := lines(mustShoal(t, "node", "ls", "-q").stdout); len(got) != 1 || got[0] != testDev.NodeID() {
		t.Errorf("node ls -q = %q, want [%q]", got, testDev.NodeID())
	}

	var nodes []api.Node
	out := mustShoal(t, "node", "inspect", "self").stdout
	if err := json.Unmarshal(ownJSON(out), &nodes); err != nil {
		t.Fatalf("node inspect self is not a JSON array of nodes: %v\n%s", err, out)
	}
	if len(nodes) != 1 {
		t.Fatalf("node inspect self: %d nodes", len(nodes))
	}
	n := nodes[0]
	if n.ID != testDev.NodeID() {
		t.Errorf("node inspect self ID = %q, want %q", n.ID, testDev.NodeID())
	}
	if n.Description.Platform.OS != goruntime.GOOS {
		t.Errorf("node OS = %q, want %q", n.Description.Platform.OS, goruntime.GOOS)
	}
	if !n.HasRuntime(api.RuntimeProcess) {
		t.Errorf("node runtimes = %q, want process among them", n.Description.Runtimes)
	}
	if n.Spec.Role != api.RoleManager || n.Status.State != api.NodeStateReady {
		t.Errorf("node role %q state %q", n.Spec.Role, n.Status.State)
	}
	if got := mustShoal(t, "node", "inspect", "-f", "{{.Description.Platform.OS}}", testDev.NodeID()).stdout; got != goruntime.GOOS+"\n" {
		t.Errorf("node inspect -f = %q", got)
	}
	if r := shoal(t, "node", "inspect", "nope"); r.code != 1 || !strings.Contains(r.stderr, "no such node: nope") {
		t.Errorf("node inspect nope: %s", r)
	}
	// No services: node ps has only its header.
	tb = parseTable(t, mustShoal(t, "node", "ps").stdout, taskHeaders...)
	if len(tb.rows) != 0 {
		t.Errorf("node ps with no services: %v", tb.rows)
	}
}

// TestGlobalService checks how lists show a global service, and the
// commands that only make sense for replicated ones.
func TestGlobalService(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "--name", "g", "--mode", "global", "-d", "--", "sleep", "300")
	waitUntil(t, "the global task to run", func(ctx context.Context, c *client.Client) (bool, error) {
		tasks, err := serviceTasks(ctx, c, "g")
		if err != nil {
			return false, err
		}
		return len(tasks) == 1 && tasks[0].Status.State == api.TaskStateRunning, nil
	})
	if got := mustShoal(t, "service", "ls", "--format", "{{.Name}} {{.Mode}} {{.Replicas}}").stdout; got != "g global 1/1\n" {
		t.Errorf("service ls = %q, want %q", got, "g global 1/1\n")
	}
	tb := parseTable(t, mustShoal(t, "service", "ps", "g").stdout, taskHeaders...)
	if want := "g." + api.ShortID(testDev.NodeID()); len(tb.rows) != 1 || tb.rows[0]["NAME"] != want {
		t.Errorf("service ps g = %v, want one task named %s", tb.rows, want)
	}
	if r := shoal(t, "service", "scale", "g=2"); r.code != ExitFailure || !strings.Contains(r.stderr, "scale can only be used with replicated mode") {
		t.Errorf("service scale of a global service: %s", r)
	}
	if r := shoal(t, "service", "update", "--replicas", "2", "g"); r.code != ExitUsage || !strings.Contains(r.stderr, "--replicas can only be used with replicated mode") {
		t.Errorf("service update --replicas of a global service: %s", r)
	}
}

// TestListOutputOptions checks -q with --format, bad templates and an
// empty list.
func TestListOutputOptions(t *testing.T) {
	r := mustShoal(t, "service", "ls")
	if tb := parseTable(t, r.stdout, serviceLsHeaders...); len(tb.rows) != 0 {
		t.Errorf("service ls with no services:\n%s", r.stdout)
	}
	if r := mustShoal(t, "service", "ls", "--format", "json"); r.stdout != "" {
		t.Errorf("service ls --format json with no services = %q, want nothing", r.stdout)
	}
	r = mustShoal(t, "node", "ls", "-q", "--format", "{{.Hostname}}")
	if r.stdout != testDev.NodeID()+"\n" || !strings.Contains(r.stderr, "Ignoring custom format") {
		t.Errorf("node ls -q --format: %s", r)
	}
	r = shoal(t, "node", "ls", "--format", "{{.Nope}}")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "template parsing error") || r.stdout != "" {
		t.Errorf("node ls with a bad template: %s", r)
	}
	r = shoal(t, "node", "ls", "--format", "{{.Hostname")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "template parsing error") {
		t.Errorf("node ls with an unparsable template: %s", r)
	}
}

// TestLongCommandTruncation checks that lists cut a long command line
// without breaking a multi-byte character, and that --no-trunc shows it
// whole.
func TestLongCommandTruncation(t *testing.T) {
	cleanupServices(t)
	// "/bin/sh -c exec sleep 300 " is 26 bytes; the two-byte characters
	// after it straddle any byte limit.
	name := strings.Repeat("é", 20)
	full := "/bin/sh -c exec sleep 300 " + name
	mustShoal(t, "service", "create", "--name", "long", "-d", "--", "/bin/sh", "-c", "exec sleep 300", name)
	waitRunning(t, "long", 1)
	check := func(what, cell string) {
		t.Helper()
		if !utf8.ValidString(cell) {
			t.Errorf("%s %q is not valid UTF-8", what, cell)
		}
		before, ok := strings.CutSuffix(cell, "…")
		if !ok || !strings.HasPrefix(full, before) || len(before) < 20 {
			t.Errorf("%s = %q, want a prefix of %q and …", what, cell, full)
		}
	}
	check("service ls IMAGE", strings.TrimSpace(mustShoal(t, "service", "ls", "--format", "{{.Image}}").stdout))
	check("service ps IMAGE", strings.TrimSpace(mustShoal(t, "service", "ps", "--format", "{{.Image}}", "long").stdout))
	check("ps COMMAND", strings.TrimSpace(mustShoal(t, "ps", "--format", "{{.Command}}").stdout))
	if got := strings.TrimSpace(mustShoal(t, "service", "ps", "--no-trunc", "--format", "{{.Image}}", "long").stdout); got != full {
		t.Errorf("service ps --no-trunc IMAGE = %q, want %q", got, full)
	}
	if got := strings.TrimSpace(mustShoal(t, "ps", "--no-trunc", "--format", "{{.Command}}").stdout); got != full {
		t.Errorf("ps --no-trunc COMMAND = %q, want %q", got, full)
	}
}

// TestGlobalServiceWithRejectedTaskCountsItsNode: a global service whose
// task was rejected (and waits for its restart delay) still wants one
// task on the node; service ls shows 0/1, as docker does, not 0/0.
func TestGlobalServiceWithRejectedTaskCountsItsNode(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "--name", "grej", "--mode", "global", "--restart-delay", "1m", "-d", "--", "/nonexistent/program")
	waitUntil(t, "the global task to end", func(ctx context.Context, c *client.Client) (bool, error) {
		tasks, err := serviceTasks(ctx, c, "grej")
		return err == nil && len(tasks) == 1 && !tasks[0].Live(), err
	})
	tasks, err := serviceTasks(context.Background(), testClient(t), "grej")
	if err != nil {
		t.Fatal(err)
	}
	if got := mustShoal(t, "service", "ls", "--format", "{{.Name}} {{.Replicas}}").stdout; got != "grej 0/1\n" {
		t.Errorf("service ls of a global service whose task is %s = %q, want %q", tasks[0].Status.State, got, "grej 0/1\n")
	}
}
