package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/api"
)

var (
	objectLsHeaders  = []string{"ID", "NAME", "CREATED", "UPDATED"}
	networkLsHeaders = []string{"NETWORK ID", "NAME", "DRIVER", "SCOPE"}
)

// shoalStdin runs the CLI against the shared cluster with stdin.
func shoalStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Execute(ctx, append([]string{"--host=" + testHost}, args...), strings.NewReader(stdin), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// cleanupObject removes a config, secret or network when the test ends,
// after its services (cleanups run last first: call it before
// cleanupServices).
func cleanupObject(t *testing.T, kind, name string) {
	t.Cleanup(func() { shoal(t, kind, "rm", name) })
}

func TestConfigCommands(t *testing.T) {
	cleanupObject(t, "config", "app.yml")
	cleanupObject(t, "config", "from-stdin")
	cleanupServices(t)
	file := filepath.Join(t.TempDir(), "app.yml")
	if err := os.WriteFile(file, []byte("port: 8080\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(mustShoal(t, "config", "create", "--label", "env=dev", "-l", "team=a", "app.yml", file).stdout)
	if len(id) != api.IDLength {
		t.Fatalf("config create printed %q, want an ID", id)
	}
	if r := shoalStdin(t, "from stdin", "config", "create", "from-stdin", "-"); r.code != 0 {
		t.Fatalf("config create from stdin: %s", r)
	}

	tb := parseTable(t, mustShoal(t, "config", "ls").stdout, objectLsHeaders...)
	if len(tb.rows) != 2 || tb.rows[0]["NAME"] != "app.yml" || tb.rows[0]["ID"] != id || !strings.HasSuffix(tb.rows[0]["CREATED"], "ago") || !strings.HasSuffix(tb.rows[0]["UPDATED"], "ago") {
		t.Fatalf("config ls rows %v", tb.rows)
	}
	if got := lines(mustShoal(t, "config", "ls", "-q").stdout); len(got) != 2 || got[0] != id {
		t.Errorf("config ls -q = %q", got)
	}
	if got := mustShoal(t, "config", "ls", "--format", "{{.Name}} {{.Labels}}").stdout; got != "app.yml env=dev,team=a\nfrom-stdin \n" {
		t.Errorf("config ls --format = %q", got)
	}

	// inspect shows the data, base64 in JSON as docker does.
	var cfgs []api.Config
	if err := json.Unmarshal(ownJSON(mustShoal(t, "config", "inspect", "app.yml").stdout), &cfgs); err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 1 || string(cfgs[0].Spec.Data) != "port: 8080\n" || cfgs[0].Spec.Labels["env"] != "dev" {
		t.Fatalf("config inspect %+v", cfgs)
	}
	if got := mustShoal(t, "config", "inspect", "-f", "{{.Spec.Name}}", id[:8]).stdout; got != "app.yml\n" {
		t.Errorf("config inspect -f by ID prefix = %q", got)
	}
	pretty := mustShoal(t, "config", "inspect", "--pretty", "from-stdin").stdout
	for _, want := range []string{"ID:", "Name:", "from-stdin", "Created at:", "Data:\nfrom stdin\n"} {
		if !strings.Contains(pretty, want) {
			t.Errorf("config inspect --pretty lacks %q:\n%s", want, pretty)
		}
	}

	// In use: refused, one line, exit 1.
	mustShoal(t, "service", "create", "--name", "cfguser", "--config", "source=app.yml,target=/etc/app.yml", "-d", "--", "sleep", "300")
	r := shoal(t, "config", "rm", "app.yml")
	if r.code != ExitFailure || r.stderr != "Error: config \"app.yml\" is in use by service cfguser\n" || r.stdout != "" {
		t.Errorf("config rm in use: %s", r)
	}
	// Bad input.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"config", "create", "x"}, ExitFailure, "'shoal config create' requires 2 arguments"},
		{[]string{"config", "create", "x", filepath.Join(t.TempDir(), "missing")}, ExitFailure, "no such file or directory"},
		{[]string{"config", "create", "app.yml", file}, ExitFailure, `config "app.yml" already exists`},
		{[]string{"config", "create", "bad name", file}, ExitFailure, `invalid config name "bad name"`},
		{[]string{"config", "create", "-l", "=x", "y", file}, ExitUsage, `invalid --label "=x"`},
		{[]string{"config", "inspect", "nope"}, ExitFailure, "no such config: nope"},
		{[]string{"config", "inspect", "--pretty", "-f", "x", "app.yml"}, ExitUsage, "--format is incompatible"},
		{[]string{"config", "rm", "nope"}, ExitFailure, "no such config: nope"},
		{[]string{"config", "ls", "x"}, ExitFailure, "'shoal config ls' accepts no arguments"},
	} {
		r := shoal(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("shoal %s: want exit %d and %q: %s", strings.Join(tc.args, " "), tc.code, tc.want, r)
		}
	}
	if r := shoalStdin(t, strings.Repeat("x", api.MaxConfigSize+1), "config", "create", "huge", "-"); r.code != ExitFailure || !strings.Contains(r.stderr, "1000 KB") {
		t.Errorf("config too big: %s", r)
	}
	mustShoal(t, "service", "rm", "cfguser")
	if got := mustShoal(t, "config", "rm", "from-stdin", id).stdout; got != "from-stdin\n"+id+"\n" {
		t.Errorf("config rm printed %q", got)
	}
	if got := mustShoal(t, "config", "ls", "-q").stdout; got != "" {
		t.Errorf("configs left: %q", got)
	}
}

func TestSecretCommandsNeverPrintData(t *testing.T) {
	cleanupObject(t, "secret", "db-pass")
	cleanupServices(t)
	plain := "correct-horse-battery-staple"
	enc := base64.StdEncoding.EncodeToString([]byte(plain))
	r := shoalStdin(t, plain, "secret", "create", "-l", "tier=db", "db-pass", "-")
	if r.code != 0 {
		t.Fatalf("secret create: %s", r)
	}
	id := strings.TrimSpace(r.stdout)
	outputs := []string{r.stdout}
	// docker's secret ls has a DRIVER column; config ls has none.
	tb := parseTable(t, mustShoal(t, "secret", "ls").stdout, "ID", "NAME", "DRIVER", "CREATED", "UPDATED")
	if len(tb.rows) != 1 || tb.rows[0]["ID"] != id || tb.rows[0]["NAME"] != "db-pass" {
		t.Fatalf("secret ls rows %v", tb.rows)
	}
	for _, args := range [][]string{
		{"secret", "ls", "--format", "json"},
		{"secret", "inspect", "db-pass"},
		{"secret", "inspect", "--pretty", id},
		{"secret", "inspect", "-f", "{{json .Spec}}", "db-pass"},
		{"secret", "inspect", "-f", "{{.Spec.Data}}", "db-pass"},
	} {
		outputs = append(outputs, mustShoal(t, args...).stdout)
	}
	for _, out := range outputs {
		if strings.Contains(out, plain) || strings.Contains(out, enc) {
			t.Errorf("the secret's data was printed: %q", out)
		}
	}
	var secs []api.Secret
	if err := json.Unmarshal(ownJSON(outputs[2]), &secs); err != nil || len(secs) != 1 || secs[0].Spec.Labels["tier"] != "db" || secs[0].Spec.Data != nil {
		t.Fatalf("secret inspect %s: %v", outputs[2], err)
	}
	if !strings.Contains(outputs[3], "Name:") || strings.Contains(outputs[3], "Data") {
		t.Errorf("secret inspect --pretty:\n%s", outputs[3])
	}

	mustShoal(t, "service", "create", "--name", "secuser", "--secret", "db-pass", "-d", "--", "sleep", "300")
	if r := shoal(t, "secret", "rm", "db-pass"); r.code != ExitFailure || r.stderr != "Error: secret \"db-pass\" is in use by service secuser\n" {
		t.Errorf("secret rm in use: %s", r)
	}
	if r := shoal(t, "service", "create", "--name", "nosec", "--secret", "missing", "-d", "--", "sleep", "300"); r.code != ExitFailure || r.stderr != "Error: service nosec: secret \"missing\" not found\n" {
		t.Errorf("service with a missing secret: %s", r)
	}
	if r := shoalStdin(t, "", "secret", "create", "empty", "-"); r.code != ExitFailure || !strings.Contains(r.stderr, "secret data is empty") {
		t.Errorf("empty secret: %s", r)
	}
	mustShoal(t, "service", "rm", "secuser")
	mustShoal(t, "secret", "rm", "db-pass")
	if r := shoal(t, "secret", "inspect", "db-pass"); r.code != ExitFailure || r.stderr != "Error: no such secret: db-pass\n" {
		t.Errorf("inspect a removed secret: %s", r)
	}
}

func TestNetworkCommands(t *testing.T) {
	cleanupObject(t, "network", "front")
	cleanupObject(t, "network", "back")
	cleanupServices(t)
	id := strings.TrimSpace(mustShoal(t, "network", "create", "front").stdout)
	if len(id) != api.IDLength {
		t.Fatalf("network create printed %q", id)
	}
	mustShoal(t, "network", "create", "--driver", "overlay", "--attachable", "--internal", "--label", "a=b", "back")
	tb := parseTable(t, mustShoal(t, "network", "ls").stdout, networkLsHeaders...)
	if len(tb.rows) != 2 || tb.rows[1]["NAME"] != "front" || tb.rows[1]["NETWORK ID"] != id[:12] || tb.rows[1]["DRIVER"] != "overlay" || tb.rows[1]["SCOPE"] != "swarm" {
		t.Fatalf("network ls rows %v", tb.rows)
	}
	if got := lines(mustShoal(t, "network", "ls", "-q", "--no-trunc").stdout); len(got) != 2 || got[1] != id {
		t.Errorf("network ls -q --no-trunc = %q", got)
	}
	var nets []api.Network
	if err := json.Unmarshal(ownJSON(mustShoal(t, "network", "inspect", "back").stdout), &nets); err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 || !nets[0].Spec.Attachable || !nets[0].Spec.Internal || nets[0].Spec.Labels["a"] != "b" {
		t.Fatalf("network inspect %+v", nets)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"network", "create"}, ExitFailure, "'shoal network create' requires 1 argument"},
		{[]string{"network", "create", "--bogus", "x"}, ExitUsage, "unknown flag: --bogus"},
		{[]string{"network", "create", "front"}, ExitFailure, `network "front" already exists`},
		{[]string{"network", "create", "-d", "", "x"}, ExitUsage, "empty driver name"},
		{[]string{"network", "inspect", "nope"}, ExitFailure, "no such network: nope"},
		{[]string{"network", "rm", "nope"}, ExitFailure, "no such network: nope"},
	} {
		r := shoal(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("shoal %s: want exit %d and %q: %s", strings.Join(tc.args, " "), tc.code, tc.want, r)
		}
	}
	if got := mustShoal(t, "network", "rm", "front", "back").stdout; got != "front\nback\n" {
		t.Errorf("network rm printed %q", got)
	}
}
