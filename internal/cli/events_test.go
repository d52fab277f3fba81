package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// shoal events streams the changes made while it runs, in docker's words,
// filtered by type and name, until --until; --format applies a template.
func TestEventsStreamsChangesUntil(t *testing.T) {
	done := make(chan result, 1)
	go func() {
		done <- shoal(t, "events", "--until", "3s", "--filter", "type=config", "--filter", "type=service", "--filter", "name=ev-cfg")
	}()
	tmpl := make(chan result, 1)
	go func() {
		tmpl <- shoal(t, "events", "--until", "3s", "--filter", "type=config", "--format", "{{.Type}}/{{.Action}}/{{.Attributes.name}}")
	}()
	time.Sleep(500 * time.Millisecond) // both streams are open
	if r := shoalStdin(t, "x", "config", "create", "--label", "x=1", "ev-other", "-"); r.code != 0 {
		t.Fatalf("config create: %s", r)
	}
	r := shoalStdin(t, "hello", "config", "create", "ev-cfg", "-")
	if r.code != 0 {
		t.Fatalf("config create: %s", r)
	}
	t.Cleanup(func() { shoal(t, "config", "rm", "ev-cfg", "ev-other") })
	got := <-done
	if got.code != 0 {
		t.Fatalf("events: %s", got)
	}
	lines := strings.Split(strings.TrimSpace(got.stdout), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], " config create ") || !strings.HasSuffix(lines[0], "(name=ev-cfg)") {
		t.Errorf("events filtered to ev-cfg: %q, want one 'config create … (name=ev-cfg)' line", got.stdout)
	}
	if _, err := time.Parse(time.RFC3339Nano, strings.Fields(lines[0])[0]); err != nil {
		t.Errorf("event line does not start with its time: %q", lines[0])
	}
	gt := <-tmpl
	if !strings.Contains(gt.stdout, "config/create/ev-other\n") || !strings.Contains(gt.stdout, "config/create/ev-cfg\n") {
		t.Errorf("events --format: %q", gt.stdout)
	}
}

func TestEventsRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"events", "--filter", "type=container"},
		{"events", "--filter", "color=red"},
		{"events", "--filter", "type"},
		{"events", "--since", "yesterday"},
		{"events", "--format", "{{.Nope"},
	} {
		r := shoal(t, args...)
		if r.code == 0 || r.stderr == "" {
			t.Errorf("shoal %v: %s, want a usage error", args, r)
		}
	}
}

// --log-format json writes one JSON object per line; text is slog's.
func TestLogFormat(t *testing.T) {
	for format, want := range map[string]string{"json": `{"time":`, "text": "time="} {
		var buf strings.Builder
		a := &app{stderr: &buf}
		cmd := &cobra.Command{}
		var level string
		addLogFlags(cmd, &level)
		if err := cmd.Flags().Parse([]string{"--log-format", format}); err != nil {
			t.Fatal(err)
		}
		log, err := newLogger(a, cmd, "info")
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello", "k", "v")
		if !strings.HasPrefix(buf.String(), want) {
			t.Errorf("--log-format %s: %q, want it to start %q", format, buf.String(), want)
		}
	}
}
