package cli

import (
	"context"
	"slices"
	"testing"
)

// TestServiceCreateArgsAfterImage checks that, as with docker, flags end
// at the image: what follows is the container's command, "-c" included,
// and "--" still starts a process service.
func TestServiceCreateArgsAfterImage(t *testing.T) {
	cleanupServices(t)
	for _, tc := range []struct {
		name              string
		args              []string
		image             string
		command, cmdArgs  []string
		wantCode          int
		wantStderrContain string
	}{
		{name: "shc", args: []string{"busybox", "/bin/sh", "-c", "echo hi; sleep 1"},
			image: "busybox", cmdArgs: []string{"/bin/sh", "-c", "echo hi; sleep 1"}},
		{name: "ping", args: []string{"--replicas", "2", "alpine", "ping", "-c", "3", "localhost"},
			image: "alpine", cmdArgs: []string{"ping", "-c", "3", "localhost"}},
		// A flag after the image is the container's, not shoal's.
		{name: "flagafter", args: []string{"alpine", "--replicas", "5"},
			image: "alpine", cmdArgs: []string{"--replicas", "5"}},
		{name: "entry", args: []string{"--entrypoint", "/bin/sh", "alpine", "-c", "exit 0"},
			image: "alpine", command: []string{"/bin/sh"}, cmdArgs: []string{"-c", "exit 0"}},
		{name: "proc", args: []string{"--", "/bin/sh", "-c", "exec sleep 300"},
			command: []string{"/bin/sh", "-c", "exec sleep 300"}},
		{name: "badflag", args: []string{"--no-such-flag", "alpine"},
			wantCode: ExitUsage, wantStderrContain: "unknown flag: --no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"service", "create", "-d", "--name", "args-" + tc.name}, tc.args...)
			if expectExit(t, shoal(t, args...), tc.wantCode, tc.wantStderrContain) {
				return
			}
			svc, err := testClient(t).ServiceInspect(context.Background(), "args-"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			c := svc.Spec.TaskTemplate.ContainerSpec
			if c.Image != tc.image || !slices.Equal(c.Command, tc.command) || !slices.Equal(c.Args, tc.cmdArgs) {
				t.Errorf("image %q command %q args %q; want %q %q %q", c.Image, c.Command, c.Args, tc.image, tc.command, tc.cmdArgs)
			}
			if tc.name == "ping" && svc.Spec.Mode.Replicas() != 2 {
				t.Errorf("replicas %d, want 2", svc.Spec.Mode.Replicas())
			}
			if tc.name == "flagafter" && svc.Spec.Mode.Replicas() != 1 {
				t.Errorf("replicas %d, want 1: --replicas after the image is the container's", svc.Spec.Mode.Replicas())
			}
		})
	}
}
