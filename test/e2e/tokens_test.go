package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A worker join token rotated with the CLI through one `shoal manager`
// process is rotated on the others: the old token no longer joins a
// worker through a third manager (the agent exits 1 saying so), the new
// one does, and `swarm join-token` shows the new one on every manager.
func TestJoinTokenRotateAcrossManagers(t *testing.T) {
	ctx := ctxTimeout(t, 2*time.Minute)
	root := t.TempDir()
	ms, sw := startManagers(t, ctx, root, "127.0.0.41", "127.0.0.42", "127.0.0.43")
	old := sw.JoinTokens.Worker

	cli := exec.CommandContext(ctx, shoalBin, "--host", "unix://"+filepath.Join(root, "127.0.0.42", "shoal.sock"), "swarm", "join-token", "--rotate", "-q", "worker")
	out, err := cli.Output()
	if err != nil {
		t.Fatalf("join-token --rotate through the second manager: %v", err)
	}
	fresh := strings.TrimSpace(string(out))
	if fresh == old || !strings.HasPrefix(fresh, "SHOALTKN-1-") {
		t.Fatalf("rotated token %q (old %q)", fresh, old)
	}
	for i, m := range ms {
		for {
			got, err := m.c.SwarmInspect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got.JoinTokens.Worker == fresh {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("manager %d still shows %q", i, got.JoinTokens.Worker)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	var stderr bytes.Buffer
	agent := exec.CommandContext(ctx, shoalBin, "agent", "--manager", ms[2].addr, "--token", old, "--addr", "127.0.0.44",
		"--data-dir", filepath.Join(root, "intruder"), "--ingress", "off", "--publish-addr", "off", "--docker=false")
	agent.Stderr = &stderr
	err = agent.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "join token rejected") {
		t.Fatalf("agent with the rotated token: %v, want exit 1 saying the token is rejected; stderr %q", err, stderr.String())
	}

	dir := filepath.Join(root, "worker")
	worker, _ := startNodeProc(t, "shoal agent", dir, "ingress:", "agent", "--manager", ms[2].addr, "--token", fresh,
		"--addr", "127.0.0.45", "--data-dir", dir, "--ingress", "127.0.0.45:0", "--publish-addr", "off", "--docker=false", "--log-level", "error")
	t.Cleanup(func() { worker.signal(syscall.SIGTERM) })
}
