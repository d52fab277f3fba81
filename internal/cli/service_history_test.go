package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

var historyHeaders = []string{"REVISION", "SPEC VERSION", "CREATED", "CHANGE"}

// inspectService returns service ref as the cluster has it.
func inspectService(t *testing.T, ref string) *api.Service {
	t.Helper()
	svc, err := testClient(t).ServiceInspect(context.Background(), ref)
	if err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return svc
}

// TestServiceHistoryAndRollback updates a service twice, lists its history
// and rolls it back to its first revision. Updates that change the tasks'
// spec are detached: the rolling update itself is the updater's business.
func TestServiceHistoryAndRollback(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "--name", "hist", "--replicas", "1", "-d", "--", "sleep", "300")
	waitRunning(t, "hist", 1)
	first := inspectService(t, "hist")

	if r := mustShoal(t, "service", "update", "-d", "--env-add", "COLOR=blue", "--label-add", "team=a", "hist"); r.stdout != "hist\n" {
		t.Errorf("service update -d printed %q, want the name", r.stdout)
	}
	mustShoal(t, "service", "update", "-d", "--update-parallelism", "2", "--update-order", "start-first", "hist")

	t.Run("history", func(t *testing.T) {
		r := mustShoal(t, "service", "history", "hist")
		tb := parseTable(t, r.stdout, historyHeaders...)
		want := []map[string]string{
			{"REVISION": "3 *", "SPEC VERSION": "2", "CHANGE": "update config"},
			{"REVISION": "2", "SPEC VERSION": "2", "CHANGE": "env, labels"},
			{"REVISION": "1", "SPEC VERSION": "1", "CHANGE": "created"},
		}
		if len(tb.rows) != len(want) {
			t.Fatalf("service history:\n%s", r.stdout)
		}
		for i, w := range want {
			for k, v := range w {
				if tb.rows[i][k] != v {
					t.Errorf("row %d %s = %q, want %q\n%s", i, k, tb.rows[i][k], v, r.stdout)
				}
			}
			if c := tb.rows[i]["CREATED"]; !strings.HasSuffix(c, " ago") {
				t.Errorf("row %d CREATED = %q, want ... ago", i, c)
			}
		}
		if got := mustShoal(t, "service", "history", "-q", "hist").stdout; got != "3\n2\n1\n" {
			t.Errorf("service history -q = %q, want revisions newest first", got)
		}
		if got := mustShoal(t, "service", "history", "--format", "{{.Revision}}:{{.SpecVersion}}:{{.Change}}:{{.Current}}", "hist").stdout; got != "3:2:update config:true\n2:2:env, labels:false\n1:1:created:false\n" {
			t.Errorf("service history --format = %q", got)
		}
	})

	t.Run("update with no change", func(t *testing.T) {
		for _, args := range [][]string{{"service", "update", "hist"}, {"service", "update", "--env-add", "COLOR=blue", "hist"}} {
			if r := mustShoal(t, args...); r.stdout != "hist\n" {
				t.Errorf("shoal %s printed %q, want only the name", strings.Join(args, " "), r.stdout)
			}
		}
		if got := inspectService(t, "hist").Revision; got != 3 {
			t.Errorf("revision after updates with no change = %d, want 3", got)
		}
	})

	t.Run("rollback to revision 1", func(t *testing.T) {
		if r := mustShoal(t, "service", "rollback", "--to", "1", "-d", "hist"); r.stdout != "hist\n" {
			t.Errorf("service rollback -d printed %q, want the name", r.stdout)
		}
		svc := inspectService(t, "hist")
		if !api.SameJSON(svc.Spec, first.Spec) {
			got, _ := json.Marshal(svc.Spec)
			want, _ := json.Marshal(first.Spec)
			t.Errorf("spec after rollback --to 1:\n%s\nwant revision 1's:\n%s", got, want)
		}
		if svc.Revision != 4 {
			t.Errorf("revision after the rollback = %d, want 4", svc.Revision)
		}
		tb := parseTable(t, mustShoal(t, "service", "history", "hist").stdout, historyHeaders...)
		if len(tb.rows) != 4 || tb.rows[0]["REVISION"] != "4 *" || tb.rows[0]["CHANGE"] != "rollback to revision 1" || tb.rows[1]["REVISION"] != "3" {
			t.Errorf("history after the rollback: %v", tb.rows)
		}
		// inspect --pretty shows the rollback's status.
		r := mustShoal(t, "service", "inspect", "--pretty", "hist")
		for _, want := range []string{"Name:", "hist", "Service Mode:", "Replicated", "UpdateStatus:", "State:", "rollback_", "Started:", "Message:", "Command:", "sleep 300"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("service inspect --pretty lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("update --rollback goes back to the previous spec", func(t *testing.T) {
		mustShoal(t, "service", "update", "-d", "--rollback", "hist")
		svc := inspectService(t, "hist")
		if svc.Spec.UpdateConfig == nil || svc.Spec.UpdateConfig.Order != "start-first" {
			t.Errorf("spec after update --rollback: UpdateConfig %+v, want revision 3's", svc.Spec.UpdateConfig)
		}
		if h := svc.History[len(svc.History)-1]; h.Change != "rollback to the previous spec" {
			t.Errorf("last change = %q", h.Change)
		}
	})

	t.Run("force", func(t *testing.T) {
		before := inspectService(t, "hist")
		mustShoal(t, "service", "update", "-d", "--force", "hist")
		after := inspectService(t, "hist")
		if after.Spec.TaskTemplate.ForceUpdate != before.Spec.TaskTemplate.ForceUpdate+1 || after.SpecVersion != before.SpecVersion+1 {
			t.Errorf("--force: ForceUpdate %d -> %d, spec version %d -> %d", before.Spec.TaskTemplate.ForceUpdate, after.Spec.TaskTemplate.ForceUpdate, before.SpecVersion, after.SpecVersion)
		}
		if got := mustShoal(t, "service", "history", "--format", "{{.Change}}", "hist").stdout; !strings.HasPrefix(got, "force\n") {
			t.Errorf("newest change after --force = %q", got)
		}
	})

	t.Run("no-trunc", func(t *testing.T) {
		mustShoal(t, "service", "update", "-d", "--env-add", "X=1", "--label-add", "y=2", "--container-label-add", "z=3",
			"-u", "nobody", "-w", "/tmp", "--stop-signal", "SIGINT", "--restart-delay", "1s", "hist")
		full := "env, labels, container labels, user, workdir, stop, restart policy"
		got := strings.TrimSpace(mustShoal(t, "service", "history", "--format", "{{.Change}}", "hist").stdout)
		if first, _, _ := strings.Cut(got, "\n"); !strings.HasSuffix(first, "…") || !strings.HasPrefix(full, strings.TrimSuffix(first, "…")) {
			t.Errorf("truncated change = %q, want a prefix of %q and …", first, full)
		}
		got = mustShoal(t, "service", "history", "--no-trunc", "--format", "{{.Change}}", "hist").stdout
		if first, _, _ := strings.Cut(got, "\n"); first != full {
			t.Errorf("--no-trunc change = %q, want %q", first, full)
		}
	})

	t.Run("errors", func(t *testing.T) {
		mustShoal(t, "service", "create", "--name", "fresh", "-d", "--", "sleep", "300")
		r := shoal(t, "service", "rollback", "fresh")
		if r.code != ExitFailure || !strings.Contains(r.stderr, "service fresh has no previous spec to roll back to") || r.stdout != "" {
			t.Errorf("rollback of a service never updated: %s", r)
		}
		r = shoal(t, "service", "rollback", "--to", "99", "-d", "hist")
		if r.code != ExitFailure || !strings.Contains(r.stderr, "no revision 99") {
			t.Errorf("rollback --to 99: %s", r)
		}
		for _, args := range [][]string{{"service", "rollback", "nope"}, {"service", "history", "nope"}, {"service", "update", "--env-add", "A=1", "nope"}} {
			if r := shoal(t, args...); r.code != ExitFailure || !strings.Contains(r.stderr, "no such service: nope") {
				t.Errorf("shoal %s: %s", strings.Join(args, " "), r)
			}
		}
		r = shoal(t, "service", "update", "--image", "nginx", "hist")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "service hist runs a program, not an image") {
			t.Errorf("update --image of a process service: %s", r)
		}
	})
}

// TestServiceRollbackWaits rolls back a replica count change without
// --detach: the tasks keep their spec version, so the command waits for
// the replicas and succeeds.
func TestServiceRollbackWaits(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "--name", "rb", "--replicas", "1", "--", "sleep", "300")
	r := mustShoal(t, "service", "scale", "rb=2")
	if !strings.Contains(r.stdout, "2/2: running") || !strings.HasSuffix(r.stdout, "verify: Service converged\n") {
		t.Errorf("service scale printed:\n%s", r.stdout)
	}
	r = mustShoal(t, "service", "rollback", "rb")
	out := lines(r.stdout)
	if len(out) < 2 || out[0] != "rb" || out[len(out)-1] != "verify: Service converged" {
		t.Errorf("service rollback printed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "overall progress: 1 out of 1 tasks") {
		t.Errorf("service rollback progress lacks 1 out of 1:\n%s", r.stdout)
	}
	if got := inspectService(t, "rb").Spec.Mode.Replicas(); got != 1 {
		t.Errorf("replicas after rollback = %d, want 1", got)
	}
	// -q waits without printing progress.
	if r := mustShoal(t, "service", "update", "-q", "--replicas", "3", "rb"); r.stdout != "rb\n" {
		t.Errorf("service update -q printed %q", r.stdout)
	}
	waitRunning(t, "rb", 3)
}

// TestServiceUpdateFlagsOnCluster sends an update of many flags and reads
// the spec back.
func TestServiceUpdateFlagsOnCluster(t *testing.T) {
	cleanupServices(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("hush"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"s1", "s2"} {
		shoal(t, "secret", "rm", name)
		mustShoal(t, "secret", "create", name, secretFile)
	}
	t.Cleanup(func() {
		cleanupServices(t)
		shoal(t, "secret", "rm", "s1", "s2")
	})
	mustShoal(t, "service", "create", "--name", "upd", "--env", "A=1", "--secret", "s1", "-d", "--", "sleep", "300")
	mustShoal(t, "service", "update", "-d", "--env-add", "B=2", "--env-rm", "A", "--args", "301",
		"--constraint-add", "node.role==manager", "--update-monitor", "7s", "--update-failure-action", "continue",
		"--rollback-parallelism", "0", "--secret-add", "source=s2,target=/etc/s2,mode=0400", "--secret-rm", "s1", "upd")
	svc := inspectService(t, "upd")
	c := svc.Spec.TaskTemplate.ContainerSpec
	if strings.Join(c.Env, ",") != "B=2" || strings.Join(c.Argv(), " ") != "sleep 301" {
		t.Errorf("env %q argv %q", c.Env, c.Argv())
	}
	if p := svc.Spec.TaskTemplate.Placement; p == nil || strings.Join(p.Constraints, ",") != "node.role==manager" {
		t.Errorf("placement %+v", p)
	}
	if u := svc.Spec.UpdateConfig; u == nil || u.Monitor.D().String() != "7s" || u.FailureAction != "continue" || u.Parallelism != 1 {
		t.Errorf("update config %+v", u)
	}
	if u := svc.Spec.RollbackConfig; u == nil || u.Parallelism != 0 {
		t.Errorf("rollback config %+v", u)
	}
	if len(c.Secrets) != 1 || c.Secrets[0].SecretName != "s2" || c.Secrets[0].SecretID == "" ||
		mustJSON(t, c.Secrets[0].File) != `{"Name":"/etc/s2","Mode":256}` {
		t.Errorf("secrets %s, want s2 at /etc/s2 mode 0400 with its ID filled in", mustJSON(t, c.Secrets))
	}
	if h := svc.History[len(svc.History)-1]; h.Change == "" || !strings.Contains(h.Change, "env") {
		t.Errorf("change %q", h.Change)
	}
}

// TestServiceRollingUpdate follows real rolling updates through the
// cluster's updater: one that succeeds, one whose failure rolls it back and
// one whose failure pauses it.
func TestServiceRollingUpdate(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "--name", "ru", "--restart-delay", "0s", "--", "sleep", "300")

	r := mustShoal(t, "service", "update", "--env-add", "A=1", "--update-monitor", "1s", "--rollback-monitor", "1s", "ru")
	out := lines(r.stdout)
	if len(out) < 3 || out[0] != "ru" || out[len(out)-1] != "verify: Service converged" {
		t.Fatalf("successful update printed:\n%s", r.stdout)
	}
	for _, want := range []string{"1/1: running   [==================================================>]", "overall progress: 1 out of 1 tasks", "verify: Waiting 1 seconds to verify that tasks are stable..."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("successful update output lacks %q:\n%s", want, r.stdout)
		}
	}
	good := inspectService(t, "ru")
	if good.UpdateStatus == nil || good.UpdateStatus.State != api.UpdateStateCompleted {
		t.Errorf("update status after the update: %+v", good.UpdateStatus)
	}

	r = shoal(t, "service", "update", "--args", "not-a-number", "--update-failure-action", "rollback", "ru")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "service update rolled back: update rolled back due to failure or early termination of task ") {
		t.Fatalf("update rolled back: %s", r)
	}
	if !strings.Contains(r.stdout, "overall progress: rolling back update: ") {
		t.Errorf("rolled back update printed:\n%s", r.stdout)
	}
	back := inspectService(t, "ru")
	if c := back.Spec.TaskTemplate.ContainerSpec; strings.Join(c.Argv(), " ") != "sleep 300" || strings.Join(c.Env, ",") != "A=1" {
		t.Errorf("spec after the rollback runs %q with env %q", c.Argv(), c.Env)
	}

	r = shoal(t, "service", "update", "--args", "still-not-a-number", "ru")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "service update paused: update paused due to failure or early termination of task ") {
		t.Fatalf("update paused: %s", r)
	}
	if st := inspectService(t, "ru").UpdateStatus; st == nil || st.State != api.UpdateStatePaused {
		t.Errorf("update status after the failed update: %+v", st)
	}
	// service rollback puts the last good spec back and waits for it.
	r = mustShoal(t, "service", "rollback", "ru")
	if out := lines(r.stdout); out[0] != "ru" || out[1] != "rollback: manually requested rollback" || out[len(out)-1] != "rollback: rollback completed" {
		t.Errorf("service rollback printed:\n%s", r.stdout)
	}
}

// An identical `service update` resumes a paused update, as docker's
// does: it is sent, not skipped, and waited for until the service
// converges.
func TestIdenticalServiceUpdateResumesAPausedUpdate(t *testing.T) {
	cleanupServices(t)
	flag := filepath.Join(t.TempDir(), "ready")
	mustShoal(t, "service", "create", "--name", "rp", "--replicas", "2", "--restart-delay", "1s",
		"--update-monitor", "1s", "--", "sh", "-c", `test -e "${FLAG:-/}" && exec sleep 300; exit 1`)
	// Version 2 needs the flag file, which is not there yet: its first
	// task fails, and the update pauses with slot 2 on version 1.
	r := shoal(t, "service", "update", "--env-add", "FLAG="+flag, "rp")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "service update paused") {
		t.Fatalf("update without the flag: %s", r)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustShoal(t, "service", "update", "rp")
	if out := lines(r.stdout); len(out) < 2 || out[0] != "rp" || out[len(out)-1] != "verify: Service converged" {
		t.Fatalf("identical update of a paused service printed:\n%s", r.stdout)
	}
	svc := inspectService(t, "rp")
	if st := svc.UpdateStatus; st == nil || st.State != api.UpdateStateCompleted {
		t.Errorf("update status after the identical update: %+v", st)
	}
	tasks, err := serviceTasks(context.Background(), testClient(t), "rp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		if tk.Live() && tk.SpecVersion != svc.SpecVersion {
			t.Errorf("task %s of slot %d still runs version %d", tk.ID, tk.Slot, tk.SpecVersion)
		}
	}
}
