package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/testutil/parity"
)

// parityDir holds the scenario, the recording script and what docker
// printed for each step (see testdata/parity/record.sh).
const parityDir = "testdata/parity"

// parityKnown lists the steps whose shape still differs from docker's, each
// with the reason (docs/cli.md lists them too). The test fails when one of
// them starts to match, so that the list stays true.
var parityKnown = map[string]string{
	"node-inspect-pretty": "no Plugins (shoal runs no engine plugins) and no TLS Info section",
}

// TestParityWithDocker runs the scenario recorded from a real Swarm against
// shoal and compares the shape of each step's output with docker's: exit
// codes, table columns, --format results, JSON keys, --pretty keys.
func TestParityWithDocker(t *testing.T) {
	cleanupServices(t)
	cleanupObjects(t, "config", "pc")
	cleanupObjects(t, "secret", "ps")
	cleanupObjects(t, "network", "pn")
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stack, err := os.ReadFile(filepath.Join(parityDir, "stack.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// Without an image, a compose service is a process service: the CLI
	// tests' cluster has no docker runtime.
	stackFile := filepath.Join(dir, "stack.yml")
	if err := os.WriteFile(stackFile, []byte(strings.Replace(string(stack), "    image: IMAGE\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shoal(t, "stack", "rm", "pst") })
	subst := map[string][]string{
		"{IMG}":   {"--", "sleep", "300"},
		"{IMAGE}": {"shoal-parity-app:1"},
		"{FILE}":  {file},
		"{STACK}": {stackFile},
	}
	for _, step := range readScenario(t) {
		var args []string
		for _, a := range step.Args {
			if s, ok := subst[a]; ok {
				args = append(args, s...)
			} else {
				args = append(args, a)
			}
		}
		want := readRecorded(t, step.Name)
		got := shoal(t, args...)
		diff := parityDiff(step.Kind, want, got)
		reason, known := parityKnown[step.Name]
		switch {
		case diff != "" && !known:
			t.Errorf("%s (shoal %s): %s\n%s", step.Name, strings.Join(args, " "), diff, got)
		case diff == "" && known:
			t.Errorf("%s now matches docker: remove it from parityKnown (%s) and docs/cli.md", step.Name, reason)
		}
		// record.sh gives docker's tasks time to start; shoal's are waited for.
		if step.Name == "service-create" && got.code == 0 {
			waitRunning(t, "pw", 2)
		}
	}
}

// parityDiff says how got's shape differs from docker's, or "".
func parityDiff(kind string, want parity.Recorded, got result) string {
	if got.code != want.Code {
		return fmt.Sprintf("exit %d, docker exits %d (docker's stderr: %q)", got.code, want.Code, want.Stderr)
	}
	switch kind {
	case "exit":
		return ""
	case "lines":
		if g, w := len(lines(got.stdout)), len(lines(want.Stdout)); g != w {
			return fmt.Sprintf("%d lines, docker prints %d", g, w)
		}
	case "text":
		if g := parity.Normalize(got.stdout); g != want.Stdout {
			return fmt.Sprintf("prints %q, docker %q", g, want.Stdout)
		}
	case "table":
		g, w := parity.HeaderColumns(got.stdout), parity.HeaderColumns(want.Stdout)
		if !slices.Equal(g, w) {
			return fmt.Sprintf("columns %q, docker's %q", g, w)
		}
	case "json":
		g, err := jsonKeys(got.stdout)
		if err != nil {
			return err.Error()
		}
		w, err := jsonKeys(want.Stdout)
		if err != nil {
			return "recorded: " + err.Error()
		}
		var missing []string
		for _, k := range w {
			if !slices.Contains(g, k) {
				missing = append(missing, k)
			}
		}
		// shoal may say more than docker (its own fields), never less.
		if len(missing) > 0 {
			return fmt.Sprintf("JSON lacks docker's keys %q", missing)
		}
	case "words":
		if g, w := parity.Normalize(got.stderr), strings.ReplaceAll(want.Stderr, "docker", "shoal"); g != w {
			return fmt.Sprintf("says %q, docker %q", g, w)
		}
	case "keys":
		g, w := parity.PrettyKeys(got.stdout), parity.PrettyKeys(want.Stdout)
		var missing []string
		for _, k := range w {
			if !slices.Contains(g, k) {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("--pretty lacks docker's keys %q (shoal's: %q)", missing, g)
		}
	default:
		return "unknown kind " + kind
	}
	return ""
}

// jsonKeys returns the keys of the first element of a JSON array, and of
// the objects in it one level down ("Spec.Name"), sorted.
func jsonKeys(out string) ([]string, error) {
	var v []map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return nil, fmt.Errorf("not a JSON array of objects: %v", err)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("an empty JSON array")
	}
	var keys []string
	for k, val := range v[0] {
		keys = append(keys, k)
		if m, ok := val.(map[string]any); ok {
			for k2 := range m {
				keys = append(keys, k+"."+k2)
			}
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// readScenario parses the scenario in parityDir.
func readScenario(t *testing.T) []parity.Step {
	t.Helper()
	steps, err := parity.ReadScenario(parityDir, "scenario")
	if err != nil {
		t.Fatal(err)
	}
	return steps
}

// readRecorded reads what docker printed for the step name.
func readRecorded(t *testing.T, name string) parity.Recorded {
	t.Helper()
	rec, err := parity.ReadRecorded(parityDir, name)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
