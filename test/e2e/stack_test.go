package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/client"
	"github.com/shoalproject/shoal/internal/cli"
	"github.com/shoalproject/shoal/internal/daemon"
)

// shoal runs the CLI against a cluster and returns its output and exit code.
func shoal(t *testing.T, d *daemon.Dev, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Execute(context.Background(), append([]string{"--host", d.Host()}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

func taskIDs(ts []*api.Task) map[string]bool {
	m := map[string]bool{}
	for _, t := range live(ts) {
		m[t.ID] = true
	}
	return m
}

func TestStackDeployRedeployPruneRemove(t *testing.T) {
	d, c := devCluster(t)
	ctx := ctxTimeout(t, 120*time.Second)
	t.Setenv("TESTAPP", testApp)
	file := func(name string) string { return filepath.Join("testdata", name) }

	// A missing external secret: nothing is created, every problem listed.
	_, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", file("app-v1.yml"), "app")
	if code != 1 || !strings.Contains(errOut, `secret "db-password" not found`) || !strings.Contains(errOut, "nothing was changed") {
		t.Fatalf("deploy without the external secret: exit %d, %q", code, errOut)
	}
	if svcs, _ := c.ServiceList(ctx); len(svcs) != 0 {
		t.Fatalf("a failed deploy created %d services", len(svcs))
	}
	if err := os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SecretCreate(ctx, api.SecretSpec{Name: "db-password", Data: []byte("s3cret")}); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := shoal(t, d, "stack", "deploy", "-d", "-c", file("app-v1.yml"), "app")
	if code != 0 {
		t.Fatalf("deploy: exit %d: %s %s", code, out, errOut)
	}
	for _, want := range []string{"Creating config app_app-config", "Creating network app_default", "Creating service app_web", "Creating service app_worker"} {
		if !strings.Contains(out, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, out)
		}
	}
	web := waitTasks(t, ctx, c, "app_web", "web running", nRunning(2))
	waitTasks(t, ctx, c, "app_worker", "one global worker", nRunning(1))
	pending := waitTasks(t, ctx, c, "app_windows-only", "the windows task pending", func(ts []*api.Task) bool {
		return len(ts) == 1 && ts[0].Status.Err != ""
	})
	if e := pending[0].Status.Err; e != "no suitable node (unsupported platform on 1 node)" {
		t.Errorf("pending reason %q", e)
	}
	svc, _ := c.ServiceInspect(ctx, "app_web")
	if svc.Spec.Labels[api.StackNamespaceLabel] != "app" || svc.Spec.TaskTemplate.ContainerSpec.Secrets[0].File.Name != "/run/secrets/db-password" {
		t.Errorf("service spec: labels %v secrets %+v", svc.Spec.Labels, svc.Spec.TaskTemplate.ContainerSpec.Secrets)
	}

	// Deploying the same files again changes nothing.
	out, _, code = shoal(t, d, "stack", "deploy", "-d", "-c", file("app-v1.yml"), "app")
	if code != 0 || !strings.Contains(out, "nothing changed") {
		t.Fatalf("redeploy: exit %d:\n%s", code, out)
	}
	now, _ := c.TaskList(ctx, client.TaskFilter{Service: "app_web"})
	for id := range taskIDs(web) {
		if !taskIDs(now)[id] {
			t.Errorf("redeploying the same file replaced task %s", id)
		}
	}

	// A change to one service updates that one only.
	worker, _ := c.TaskList(ctx, client.TaskFilter{Service: "app_worker"})
	out, _, code = shoal(t, d, "stack", "deploy", "-c", file("app-v2.yml"), "app")
	if code != 0 || !strings.Contains(out, "Updating service app_web") || strings.Contains(out, "app_worker") && strings.Contains(out, "Updating service app_worker") {
		t.Fatalf("changed deploy: exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "Service converged") {
		t.Errorf("deploy without --detach should wait for convergence:\n%s", out)
	}
	after, _ := c.TaskList(ctx, client.TaskFilter{Service: "app_worker"})
	if len(taskIDs(after)) != 1 || !taskIDs(after)[running(worker)[0].ID] {
		t.Errorf("the unchanged worker service's task was replaced")
	}

	// Without --prune a service dropped from the file stays; with it, it goes.
	shoal(t, d, "stack", "deploy", "-d", "-c", file("app-v3.yml"), "app")
	if _, err := c.ServiceInspect(ctx, "app_windows-only"); err != nil {
		t.Errorf("a service left out of the file was removed without --prune: %v", err)
	}
	out, _, _ = shoal(t, d, "stack", "deploy", "-d", "--prune", "-c", file("app-v3.yml"), "app")
	if !strings.Contains(out, "Removing service app_windows-only") {
		t.Errorf("--prune output:\n%s", out)
	}

	out, _, _ = shoal(t, d, "stack", "ls")
	if !strings.Contains(out, "app") || !strings.Contains(out, "2") {
		t.Errorf("stack ls:\n%s", out)
	}
	out, _, _ = shoal(t, d, "stack", "ps", "app", "--format", "{{.Name}}")
	if !strings.Contains(out, "app_web.1") {
		t.Errorf("stack ps:\n%s", out)
	}

	out, _, code = shoal(t, d, "stack", "rm", "app")
	if code != 0 || !strings.Contains(out, "Removing config app_app-config") || !strings.Contains(out, "Removing network app_default") {
		t.Fatalf("stack rm: exit %d:\n%s", code, out)
	}
	if _, err := c.SecretInspect(ctx, "db-password"); err != nil {
		t.Errorf("stack rm removed the external secret: %v", err)
	}
	if svcs, _ := c.ServiceList(ctx); len(svcs) != 0 {
		t.Errorf("%d services left after stack rm", len(svcs))
	}
}

func TestStackDryRunChangesNothing(t *testing.T) {
	d, c := devCluster(t)
	ctx := ctxTimeout(t, 60*time.Second)
	t.Setenv("TESTAPP", testApp)
	if _, err := c.SecretCreate(ctx, api.SecretSpec{Name: "db-password", Data: []byte("s3cret")}); err != nil {
		t.Fatal(err)
	}
	out, _, code := shoal(t, d, "stack", "deploy", "--dry-run", "-c", filepath.Join("testdata", "app-v1.yml"), "app")
	if code != 0 || !strings.Contains(out, "create service app_web") || !strings.Contains(out, "create config app_app-config") {
		t.Fatalf("dry run: exit %d:\n%s", code, out)
	}
	if svcs, _ := c.ServiceList(ctx); len(svcs) != 0 {
		t.Fatalf("--dry-run created %d services", len(svcs))
	}
	if cfgs, _ := c.ConfigList(ctx); len(cfgs) != 0 {
		t.Fatalf("--dry-run created %d configs", len(cfgs))
	}
}

func TestStackBadInputIsListedAndNothingApplied(t *testing.T) {
	d, c := devCluster(t)
	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("services:\n  web:\n    image: x\n    deploy:\n      placement:\n        constraints: [\"node.platform.os = linux\"]\n  api:\n    image: y\n    deploy:\n      placement:\n        constraints: [\"node.colour == red\"]\n"), 0o600)
	_, errOut, code := shoal(t, d, "stack", "deploy", "-c", bad, "bad")
	if code == 0 || !strings.Contains(errOut, "node.platform.os = linux") || !strings.Contains(errOut, "node.colour") || !strings.Contains(errOut, "bad.yml:") {
		t.Fatalf("bad stack: exit %d: %s", code, errOut)
	}
	if svcs, _ := c.ServiceList(context.Background()); len(svcs) != 0 {
		t.Fatalf("a bad stack created %d services", len(svcs))
	}
	_, errOut, code = shoal(t, d, "stack", "deploy", "-c", bad, "bad name")
	if code != 125 || !strings.Contains(errOut, "invalid stack name") {
		t.Fatalf("bad stack name: exit %d: %s", code, errOut)
	}
}
