package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/testutil"
	"github.com/shoalproject/shoal/internal/testutil/parity"
)

// parityDir holds the scenario recorded from a real Swarm with the docker
// CLI (record.sh there); shoal's CLI and, here, shoal's Docker API are
// compared with it.
var parityDir = filepath.Join("..", "..", "internal", "cli", "testdata", "parity")

// dockerParityKnown lists the steps where the docker CLI prints something
// else against shoal than against Swarm, with the reason; docs/docker-api.md
// lists them under "Differences from Swarm". The test fails when one starts
// to match, so that the list stays true.
var dockerParityKnown = map[string]string{
	"node-ls":             "ENGINE VERSION is shoal's version",
	"node-inspect":        "no Description.Engine.Plugins and no Description.TLSInfo (shoal's CA is not in its node objects)",
	"node-inspect-pretty": "no Plugins and no TLS Info sections (as node-inspect)",
	"node-ps":             "the task history after update, rollback and scale depends on how far each got when the next began",
	"api-port-inspect":    "no Endpoint.VirtualIPs for a published port: shoal's ingress is a proxy on every node, not an ingress overlay network with a VIP",
}

// newerKeys are the keys of newer engines than the recorded Swarm's
// (20.10): dockerd 27 says them at every API version, and so does shoal.
var newerKeys = map[string]bool{"[].EnableIPv4": true, "[].Volumes": true}

// The docker CLI prints against shoal's Docker API what it prints against a
// real Swarm: the scenario of internal/cli/testdata/parity (service, node,
// config, secret, network and stack commands, and their errors), run with
// the same CLI speaking the recorded engine's API version (1.41). Stricter
// than shoal's own CLI parity test, since the client is the same binary:
// stderr is compared whole, JSON by every key path both ways, tables by
// every cell but IDs.
func TestDockerCLIParityWithSwarm(t *testing.T) {
	d, _, _ := dockerCluster(t)
	sock := d.DockerSocket()
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 4*time.Minute)
	image := testutil.BuildImage(t, "shoal-parity-app:1", testutil.TestAppDir(), "")
	t.Setenv("DOCKER_API_VERSION", "1.41")

	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stack, err := os.ReadFile(filepath.Join(parityDir, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(stack), "\n") {
		if !strings.HasPrefix(l, "    command:") {
			kept = append(kept, strings.Replace(l, "IMAGE", image, 1))
		}
	}
	stackFile := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(stackFile, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	subst := map[string]string{"{IMG}": image, "{IMAGE}": image, "{FILE}": file, "{STACK}": stackFile}
	// What differs from run to run besides IDs and times: the image's
	// per-process tag and the temporary folder.
	unrun := strings.NewReplacer(image, "shoal-parity-app:1", dir, "<WORK>")

	steps, err := parity.ReadScenario(parityDir, "scenario")
	if err != nil {
		t.Fatal(err)
	}
	more, err := parity.ReadScenario(parityDir, "scenario-api")
	if err != nil {
		t.Fatal(err)
	}
	steps = append(steps, more...)
	for _, step := range steps {
		args := make([]string, len(step.Args))
		for i, a := range step.Args {
			args[i] = a
			if s, ok := subst[a]; ok {
				args[i] = s
			}
		}
		if slices.Contains(args, "{TASK}") {
			// record.sh: the running task of ptask.
			ts := waitTasks(t, ctx, c, "ptask", "ptask's task", nRunning(1))
			args[slices.Index(args, "{TASK}")] = running(ts)[0].ID
		}
		want, err := parity.ReadRecorded(parityDir, step.Name)
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := dockerCLI(t, sock, "", args...)
		got := parity.Recorded{Code: code, Stdout: parity.Normalize(unrun.Replace(out)), Stderr: parity.Normalize(unrun.Replace(errOut))}
		diff := dockerParityDiff(step.Kind, want, got)
		reason, known := dockerParityKnown[step.Name]
		switch {
		case diff != "" && !known:
			t.Errorf("%s (docker %s): %s", step.Name, strings.Join(step.Args, " "), diff)
		case diff == "" && known:
			t.Errorf("%s now matches Swarm: remove it from dockerParityKnown (%s) and docs/docker-api.md", step.Name, reason)
		}
		// record.sh gave Swarm 3 seconds here; shoal's tasks are waited for.
		switch step.Name {
		case "service-create":
			waitTasks(t, ctx, c, "pw", "2 running tasks", nRunning(2))
		case "api-task-create":
			waitTasks(t, ctx, c, "ptask", "ptask's task", nRunning(1))
		case "stack-deploy":
			waitTasks(t, ctx, c, "pst_web", "the stack's task", nRunning(1))
		}
	}
}

// dockerParityDiff says how got differs from what Swarm gave, or "".
func dockerParityDiff(kind string, want, got parity.Recorded) string {
	var diffs []string
	if got.Code != want.Code {
		diffs = append(diffs, fmt.Sprintf("exit %d, Swarm %d", got.Code, want.Code))
	}
	if got.Stderr != want.Stderr {
		diffs = append(diffs, fmt.Sprintf("stderr %q, Swarm %q", got.Stderr, want.Stderr))
	}
	switch kind {
	case "exit", "words":
	case "lines":
		if g, w := strings.Count(strings.TrimSpace(got.Stdout), "\n"), strings.Count(strings.TrimSpace(want.Stdout), "\n"); g != w {
			diffs = append(diffs, fmt.Sprintf("%d lines, Swarm %d", g+1, w+1))
		}
	case "text":
		if got.Stdout != want.Stdout {
			diffs = append(diffs, fmt.Sprintf("prints %q, Swarm %q", got.Stdout, want.Stdout))
		}
	case "table":
		if g, w := tableCells(got.Stdout), tableCells(want.Stdout); !slices.Equal(g, w) {
			diffs = append(diffs, fmt.Sprintf("table\n%s\nSwarm's\n%s", strings.Join(g, "\n"), strings.Join(w, "\n")))
		}
	case "json":
		g, err := jsonPaths(got.Stdout)
		if err != nil {
			return err.Error()
		}
		w, err := jsonPaths(want.Stdout)
		if err != nil {
			return "recorded: " + err.Error()
		}
		var missing, extra []string
		for k := range w {
			if _, ok := g[k]; !ok {
				missing = append(missing, k)
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok && !newerKeys[k] {
				extra = append(extra, k)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		if len(missing)+len(extra) > 0 {
			diffs = append(diffs, fmt.Sprintf("JSON lacks Swarm's %q, has more: %q", missing, extra))
		}
	case "keys":
		if g, w := parity.PrettyKeys(got.Stdout), parity.PrettyKeys(want.Stdout); !slices.Equal(g, w) {
			diffs = append(diffs, fmt.Sprintf("--pretty keys %q, Swarm's %q", g, w))
		}
	default:
		diffs = append(diffs, "unknown kind "+kind)
	}
	return strings.Join(diffs, "; ")
}

var cellSep = regexp.MustCompile(`\s{2,}|\s+\*\s+`)

// tableCells returns a table's rows with their cells joined by "|", the ID
// column blanked (docker shortens IDs past what normalizing recognises).
func tableCells(out string) []string {
	var rows []string
	for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
		// docker's "less than a second ago" escapes the normalizing.
		l = strings.ReplaceAll(l, "less than <AGO>", "<AGO>")
		cells := cellSep.Split(strings.TrimSpace(l), -1)
		if i > 0 && len(cells) > 0 {
			cells[0] = "<ID>"
		}
		rows = append(rows, strings.Join(cells, "|"))
	}
	return rows
}

// jsonPaths returns every key path of a JSON document ("[].Spec.Name"),
// with the values of leaves that are not IDs, times or versions.
func jsonPaths(out string) (map[string]any, error) {
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	paths := map[string]any{}
	var walk func(string, any)
	walk = func(p string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(p+"."+k, e)
			}
			if len(v) == 0 {
				paths[p] = "{}"
			}
		case []any:
			for _, e := range v {
				walk(p+"[]", e)
			}
			if len(v) == 0 {
				paths[p] = "[]"
			}
		default:
			paths[p] = v
		}
	}
	walk("", v)
	return paths, nil
}
