package cli

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestExitCodesAndWording checks docker's exit codes and wording for an
// unknown command or subcommand, a stack that does not exist, and shoal's
// own choice for an attached update that rolled back (docs/cli.md).
func TestExitCodesAndWording(t *testing.T) {
	cleanupServices(t)
	mustShoal(t, "service", "create", "-d", "--name", "rb", "--update-failure-action", "rollback",
		"--update-monitor", "2s", "--restart-delay", "0s", "--", "sleep", "300")
	waitRunning(t, "rb", 1)
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderrHas []string
		stdoutHas []string
		// errorPrefix: shoal's "Error: " before the message (docker's
		// wording for the others has none).
		errorPrefix bool
	}{
		{name: "unknown command", args: []string{"frobnicate"}, code: 1,
			stderrHas: []string{"shoal: unknown command: shoal frobnicate\n\nRun 'shoal --help' for more information"}},
		{name: "unknown service subcommand", args: []string{"service", "frobnicate"}, code: 1,
			stderrHas: []string{"shoal: unknown command: shoal service frobnicate\n\nUsage:  shoal service\n\nRun 'shoal service --help' for more information"}},
		{name: "unknown stack subcommand", args: []string{"stack", "frob"}, code: 1,
			stderrHas: []string{"shoal: unknown command: shoal stack frob"}},
		{name: "unknown config subcommand", args: []string{"config", "edit"}, code: 1,
			stderrHas: []string{"shoal: unknown command: shoal config edit"}},
		{name: "group without subcommand", args: []string{"node"}, code: 0, stdoutHas: []string{"Available Commands:"}},
		{name: "stack rm missing", args: []string{"stack", "rm", "nosuchstack"}, code: 0,
			stderrHas: []string{"Nothing found in stack: nosuchstack\n"}},
		{name: "stack rm two missing", args: []string{"stack", "rm", "nosuch1", "nosuch2"}, code: 0,
			stderrHas: []string{"Nothing found in stack: nosuch1\n", "Nothing found in stack: nosuch2\n"}},
		{name: "stack services missing", args: []string{"stack", "services", "nosuchstack"}, code: 0,
			stderrHas: []string{"Nothing found in stack: nosuchstack\n"}},
		{name: "stack ps missing", args: []string{"stack", "ps", "nosuchstack"}, code: 1,
			stderrHas: []string{"nothing found in stack: nosuchstack"}, errorPrefix: true},
		// Decision (docs/cli.md): docker exits 0 after an update that its
		// failure action rolled back; shoal exits 1, so a deploy script
		// notices its change is not running.
		{name: "attached update rolled back", args: []string{"service", "update", "--args", "notanumber", "rb"}, code: 1,
			stdoutHas: []string{"rollback: update rolled back"},
			stderrHas: []string{"service update rolled back: update rolled back due to failure"}, errorPrefix: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := shoal(t, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d: %s", r.code, tc.code, r)
			}
			for _, want := range tc.stderrHas {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q: %s", want, r)
				}
			}
			for _, want := range tc.stdoutHas {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q: %s", want, r)
				}
			}
			if !tc.errorPrefix && strings.Contains(r.stderr, "Error:") {
				t.Errorf("docker's wording has no \"Error:\" prefix here: %s", r)
			}
		})
	}
	svc, err := testClient(t).ServiceInspect(context.Background(), "rb")
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Spec.TaskTemplate.ContainerSpec.Argv(); !slices.Equal(got, []string{"sleep", "300"}) {
		t.Errorf("after the rollback the service runs %q, want sleep 300", got)
	}
}

// TestUsageLinesSayOptionsOnce walks every command: no usage line says
// cobra's "[flags]" beside docker's "[OPTIONS]".
func TestUsageLinesSayOptionsOnce(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		n++
		if line := c.UseLine(); strings.Contains(line, "[flags]") {
			t.Errorf("usage line %q", line)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(&app{}))
	if r := shoal(t, "service", "create", "--help"); !strings.Contains(r.stdout, "shoal service create [OPTIONS] IMAGE [COMMAND] [ARG...]") || strings.Contains(r.stdout, "[flags]") {
		t.Errorf("service create --help: %s", r)
	}
	if n < 40 {
		t.Errorf("walked %d commands", n)
	}
}
