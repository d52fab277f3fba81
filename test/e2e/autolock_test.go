package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalproject/shoal/api"
)

// shoalCLI runs the shoal CLI on the API at socket with stdin; it
// returns its exit code and its output, stdout then stderr.
func shoalCLI(ctx context.Context, socket, stdin string, args ...string) (int, string) {
	cmd := exec.CommandContext(ctx, shoalBin, append([]string{"--host", "unix://" + socket}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out)
}

// A `shoal manager --autolock` process prints its unlock key; killed and
// started again, it logs that it is locked, its API refuses the CLI with
// the locked message, `shoal swarm unlock` with a wrong key on stdin
// fails, and with the right one the manager starts and serves.
func TestLockedManagerProcessUnlocks(t *testing.T) {
	ctx := ctxTimeout(t, 2*time.Minute)
	dir := filepath.Join(t.TempDir(), "m")
	addr := freePort(t, "127.0.0.31")
	m := startManager(t, dir, addr, "--autolock")
	t.Cleanup(func() { m.signal(syscall.SIGTERM) })
	var key string
	for l := range m.lines {
		if k, ok := strings.CutPrefix(l, "    SHOALKEY-1-"); ok {
			key = "SHOALKEY-1-" + k
			break
		}
	}
	if key == "" {
		t.Fatal("shoal manager --autolock printed no unlock key")
	}
	if _, err := m.c.SecretCreate(ctx, api.SecretSpec{Name: "db", Data: []byte("pw")}); err != nil {
		t.Fatal(err)
	}
	m.signal(syscall.SIGKILL)

	socket := filepath.Join(dir, "shoal.sock")
	logFile := filepath.Join(t.TempDir(), "stderr")
	unlocked := make(chan string, 1)
	go func() {
		// Until the manager answers locked, then a wrong key, then the key.
		for {
			code, out := shoalCLI(ctx, socket, "", "node", "ls")
			if code == 1 && strings.Contains(out, "Error: This node is locked: run `shoal swarm unlock`") {
				break
			}
			if ctx.Err() != nil {
				unlocked <- "never locked: " + out
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		if code, out := shoalCLI(ctx, socket, "SHOALKEY-1-"+strings.Repeat("A", 43)+"\n", "swarm", "unlock"); code != 1 ||
			!strings.Contains(out, "swarm could not be unlocked: invalid key provided") {
			unlocked <- "a wrong key: " + out
			return
		}
		if code, out := shoalCLI(ctx, socket, key+"\n", "swarm", "unlock"); code != 0 {
			unlocked <- "the key: " + out
			return
		}
		unlocked <- ""
	}()
	// exec: the shell becomes shoal, which logs to the file.
	cmd := exec.Command("sh", "-c", `exec "$0" "$@" 2>"$LOG"`, shoalBin, "manager", "--data-dir", dir, "--addr", addr, "--ingress", "off",
		"--publish-addr", "off", "--docker=false", "--heartbeat", "1s", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "LOG="+logFile)
	m.nodeProc, _ = startNodeCmd(t, "locked shoal manager", dir, "try:", cmd)
	if msg := <-unlocked; msg != "" {
		t.Fatal(msg)
	}
	if code, out := shoalCLI(ctx, socket, "", "secret", "ls", "-q"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("secret ls after the unlock: exit %d: %s", code, out)
	}
	if code, out := shoalCLI(ctx, socket, "", "swarm", "unlock-key", "-q"); code != 0 || strings.TrimSpace(out) != key {
		t.Errorf("unlock-key -q: exit %d: %s", code, out)
	}
	log, _ := os.ReadFile(logFile)
	if !strings.Contains(string(log), "This node is locked: run `shoal swarm unlock`") {
		t.Errorf("the locked manager's log does not say it is locked:\n%s", log)
	}
}
