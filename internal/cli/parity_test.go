package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
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

// parityStep is one line of the scenario.
type parityStep struct {
	name, kind string
	args       []string
}

// recorded is what docker printed for a step.
type recorded struct {
	code           int
	stdout, stderr string
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
		for _, a := range step.args {
			if s, ok := subst[a]; ok {
				args = append(args, s...)
			} else {
				args = append(args, a)
			}
		}
		want := readRecorded(t, step.name)
		got := shoal(t, args...)
		diff := parityDiff(step.kind, want, got)
		reason, known := parityKnown[step.name]
		switch {
		case diff != "" && !known:
			t.Errorf("%s (shoal %s): %s\n%s", step.name, strings.Join(args, " "), diff, got)
		case diff == "" && known:
			t.Errorf("%s now matches docker: remove it from parityKnown (%s) and docs/cli.md", step.name, reason)
		}
		// record.sh gives docker's tasks time to start; shoal's are waited for.
		if step.name == "service-create" && got.code == 0 {
			waitRunning(t, "pw", 2)
		}
	}
}

// parityDiff says how got's shape differs from docker's, or "".
func parityDiff(kind string, want recorded, got result) string {
	if got.code != want.code {
		return fmt.Sprintf("exit %d, docker exits %d (docker's stderr: %q)", got.code, want.code, want.stderr)
	}
	switch kind {
	case "exit":
		return ""
	case "lines":
		if g, w := len(lines(got.stdout)), len(lines(want.stdout)); g != w {
			return fmt.Sprintf("%d lines, docker prints %d", g, w)
		}
	case "text":
		if g := normalizeParity(got.stdout); g != want.stdout {
			return fmt.Sprintf("prints %q, docker %q", g, want.stdout)
		}
	case "table":
		g, w := headerColumns(got.stdout), headerColumns(want.stdout)
		if !slices.Equal(g, w) {
			return fmt.Sprintf("columns %q, docker's %q", g, w)
		}
	case "json":
		g, err := jsonKeys(got.stdout)
		if err != nil {
			return err.Error()
		}
		w, err := jsonKeys(want.stdout)
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
		if g, w := normalizeParity(got.stderr), strings.ReplaceAll(want.stderr, "docker", "shoal"); g != w {
			return fmt.Sprintf("says %q, docker %q", g, w)
		}
	case "keys":
		g, w := prettyKeys(got.stdout), prettyKeys(want.stdout)
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

// readScenario parses testdata/parity/scenario.
func readScenario(t *testing.T) []parityStep {
	t.Helper()
	f, err := os.Open(filepath.Join(parityDir, "scenario"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []parityStep
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words, err := shellWords(line)
		if err != nil || len(words) < 3 {
			t.Fatalf("scenario line %q: want NAME KIND ARGS (%v)", line, err)
		}
		steps = append(steps, parityStep{name: words[0], kind: words[1], args: words[2:]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps
}

// shellWords splits s at blanks, keeping what single quotes enclose in one
// word, as the shell does for the scenario's lines.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, inWord = !quoted, true
		case !quoted && (r == ' ' || r == '\t'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// readRecorded reads NAME.txt as record.sh wrote it.
func readRecorded(t *testing.T, name string) recorded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(parityDir, name+".txt"))
	if err != nil {
		t.Fatalf("%v (run testdata/parity/record.sh after changing the scenario)", err)
	}
	var rec recorded
	head, rest, ok := strings.Cut(string(b), "\n--- stdout\n")
	if _, err := fmt.Sscanf(head, "exit %d", &rec.code); err != nil || !ok {
		t.Fatalf("%s.txt: bad header %q", name, head)
	}
	rec.stdout, rec.stderr, ok = strings.Cut(rest, "--- stderr\n")
	if !ok {
		t.Fatalf("%s.txt: no stderr section", name)
	}
	return rec
}

var parityNormal = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b[0-9a-f]{64}\b`), "<ID>"},
	{regexp.MustCompile(`\b[a-z0-9]{25}\b`), "<ID>"},
	{regexp.MustCompile(`\b[0-9a-f]{12}\b`), "<ID>"},
	{regexp.MustCompile(`[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z|[+-][0-9:]+)?( [+-][0-9]{4} [A-Z]+)?`), "<TIME>"},
	{regexp.MustCompile(`Less than a second ago`), "<AGO>"},
	{regexp.MustCompile(`(About )?(an?|[0-9]+) (second|minute|hour|day|week|month|year)s? ago`), "<AGO>"},
}

// normalizeParity replaces IDs, times and the host name as record.sh does.
func normalizeParity(s string) string {
	for _, n := range parityNormal {
		s = n.re.ReplaceAllString(s, n.with)
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		s = regexp.MustCompile(`\b`+regexp.QuoteMeta(h)+`\b`).ReplaceAllString(s, "<HOST>")
	}
	return s
}

// headerColumns returns the columns of a table's header line.
func headerColumns(out string) []string {
	ls := lines(out)
	if len(ls) == 0 {
		return nil
	}
	return multiSpace.Split(strings.TrimSpace(ls[0]), -1)
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

var prettyKey = regexp.MustCompile(`^ ?([A-Z][A-Za-z ]*):`)

// prettyKeys returns the "Key:" names of an inspect --pretty display.
func prettyKeys(out string) []string {
	var keys []string
	for _, l := range strings.Split(out, "\n") {
		if m := prettyKey.FindStringSubmatch(l); m != nil {
			keys = append(keys, m[1])
		}
	}
	return keys
}
