// Package parity reads the scenario recorded from a real Swarm
// (internal/cli/testdata/parity, see record.sh there) for the tests that
// compare shoal's CLI and shoal's Docker API with docker's output.
package parity

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Step is one line of the scenario: NAME KIND ARGS.
type Step struct {
	Name, Kind string
	Args       []string
}

// Recorded is what docker printed for a step.
type Recorded struct {
	Code           int
	Stdout, Stderr string
}

// ReadScenario parses dir/name ("scenario", "scenario-api").
func ReadScenario(dir, name string) ([]Step, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var steps []Step
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words, err := ShellWords(line)
		if err != nil || len(words) < 3 {
			return nil, fmt.Errorf("scenario line %q: want NAME KIND ARGS (%v)", line, err)
		}
		steps = append(steps, Step{Name: words[0], Kind: words[1], Args: words[2:]})
	}
	return steps, sc.Err()
}

// ShellWords splits s at blanks, keeping what single quotes enclose in one
// word, as the shell does for the scenario's lines.
func ShellWords(s string) ([]string, error) {
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

// ReadRecorded reads dir/NAME.txt as record.sh wrote it.
func ReadRecorded(dir, name string) (Recorded, error) {
	var rec Recorded
	b, err := os.ReadFile(filepath.Join(dir, name+".txt"))
	if err != nil {
		return rec, fmt.Errorf("%w (run record.sh after changing the scenario)", err)
	}
	head, rest, ok := strings.Cut(string(b), "\n--- stdout\n")
	if _, err := fmt.Sscanf(head, "exit %d", &rec.Code); err != nil || !ok {
		return rec, fmt.Errorf("%s.txt: bad header %q", name, head)
	}
	rec.Stdout, rec.Stderr, ok = strings.Cut(rest, "--- stderr\n")
	if !ok {
		return rec, fmt.Errorf("%s.txt: no stderr section", name)
	}
	return rec, nil
}

var normal = []struct {
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

// Normalize replaces IDs, times and the host name as record.sh does.
func Normalize(s string) string {
	for _, n := range normal {
		s = n.re.ReplaceAllString(s, n.with)
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		s = regexp.MustCompile(`\b`+regexp.QuoteMeta(h)+`\b`).ReplaceAllString(s, "<HOST>")
	}
	return s
}

var multiSpace = regexp.MustCompile(`\s{2,}`)

// HeaderColumns returns the columns of a table's header line.
func HeaderColumns(out string) []string {
	first, _, _ := strings.Cut(strings.TrimLeft(out, "\n"), "\n")
	if strings.TrimSpace(first) == "" {
		return nil
	}
	return multiSpace.Split(strings.TrimSpace(first), -1)
}

var prettyKey = regexp.MustCompile(`^ ?([A-Z][A-Za-z ]*):`)

// PrettyKeys returns the "Key:" names of an inspect --pretty display.
func PrettyKeys(out string) []string {
	var keys []string
	for _, l := range strings.Split(out, "\n") {
		if m := prettyKey.FindStringSubmatch(l); m != nil {
			keys = append(keys, m[1])
		}
	}
	return keys
}
