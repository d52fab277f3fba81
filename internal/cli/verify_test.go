package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// crashLoop is a process that runs a moment, then fails: long enough for
// its task to be seen running, far shorter than the verify period.
const crashLoop = "sleep 1; exit 1"

// TestAttachedCommandsCatchACrashLoop runs each attached command that
// follows a service on a crash-looping one. As docker's verify phase does,
// each sees the task fail and keeps waiting: none says "Service converged"
// or exits 0 before its deadline.
func TestAttachedCommandsCatchACrashLoop(t *testing.T) {
	cleanupServices(t)
	cleanupNetworks(t, "vfy_default")
	stack := writeStackFile(t, `
services:
  loop:
    command: ["/bin/sh", "-c", "`+crashLoop+`"]
    deploy: {restart_policy: {delay: 0s}}
`)
	for _, tc := range []struct {
		name  string
		setup []string
		args  []string
	}{
		{name: "create", args: []string{"service", "create", "--name", "vfy-create", "--restart-delay", "0s", "--", "/bin/sh", "-c", crashLoop}},
		{name: "scale",
			setup: []string{"service", "create", "-d", "--name", "vfy-scale", "--replicas", "0", "--restart-delay", "0s", "--", "/bin/sh", "-c", crashLoop},
			args:  []string{"service", "scale", "vfy-scale=1"}},
		{name: "stack deploy", args: []string{"stack", "deploy", "-c", stack, "vfy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				mustShoal(t, tc.setup...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 9*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			start := time.Now()
			code := Execute(ctx, append([]string{"--host=" + testHost}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			r := result{stdout: stdout.String(), stderr: stderr.String(), code: code}
			if code == 0 || strings.Contains(r.stdout, "Service converged") {
				t.Fatalf("a crash-looping service converged after %v: %s", time.Since(start).Round(time.Millisecond), r)
			}
			if !strings.Contains(r.stdout, "verify: Detected task failure") {
				t.Errorf("the failure was not reported: %s", r)
			}
			if time.Since(start) < 8*time.Second {
				t.Errorf("gave up after %v, before its deadline: %s", time.Since(start), r)
			}
		})
	}
}
