package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/unlockkey"
)

// shoalIn runs the CLI with stdin.
func shoalIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Execute(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// The autolock commands as docker's: update prints the key once,
// unlock-key shows, -q and --rotate it, unlock reads it from stdin and
// refuses a wrong one, and a cluster without autolock has no key.
func TestSwarmAutolockCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	quietLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := daemon.DevConfig{DataDir: t.TempDir(), Logger: quietLog}
	d, err := daemon.StartDev(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Close() }()
	host := "--host=" + d.Host()
	if r := shoalIn(t, "", host, "swarm", "unlock-key"); r.code != ExitFailure || !strings.Contains(r.stderr, "no unlock key is set") {
		t.Errorf("unlock-key without autolock: %s", r)
	}
	if r := shoalIn(t, "", host, "swarm", "unlock-key", "--rotate"); r.code != ExitFailure || !strings.Contains(r.stderr, "cannot rotate because autolock is not turned on") {
		t.Errorf("rotate without autolock: %s", r)
	}
	if r := shoalIn(t, "x\n", host, "swarm", "unlock"); r.code != ExitFailure || !strings.Contains(r.stderr, "swarm is not locked") {
		t.Errorf("unlock of an unlocked manager: %s", r)
	}
	r := shoalIn(t, "", host, "swarm", "update", "--autolock=true")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Swarm updated.\nTo unlock a swarm manager after it restarts, run the `shoal swarm unlock`\ncommand and provide the following key:\n\n    SHOALKEY-1-") {
		t.Fatalf("update --autolock=true: %s", r)
	}
	key := strings.Fields(strings.SplitN(r.stdout, "key:\n\n", 2)[1])[0]
	if _, err := unlockkey.Parse(key); err != nil {
		t.Fatalf("printed key %q: %v", key, err)
	}
	if r := shoalIn(t, "", host, "swarm", "update", "--autolock=true"); r.code != 0 || r.stdout != "Swarm updated.\n" {
		t.Errorf("update --autolock=true again: %s", r)
	}
	if r := shoalIn(t, "", host, "swarm", "unlock-key", "-q"); r.code != 0 || r.stdout != key+"\n" {
		t.Errorf("unlock-key -q: %s", r)
	}
	r = shoalIn(t, "", host, "swarm", "unlock-key", "--rotate")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "Successfully rotated manager unlock key.\n\nTo unlock") || strings.Contains(r.stdout, key) {
		t.Fatalf("unlock-key --rotate: %s", r)
	}
	key2 := strings.TrimSpace(shoalIn(t, "", host, "swarm", "unlock-key", "-q").stdout)

	d.Close()
	started := make(chan *daemon.Dev, 1)
	go func() {
		d2, err := daemon.StartDev(ctx, cfg)
		if err != nil {
			t.Error(err)
		}
		started <- d2
	}()
	sock := "--host=unix://" + filepath.Join(cfg.DataDir, "shoal.sock")
	for {
		r = shoalIn(t, "", sock, "service", "ls")
		if strings.Contains(r.stderr, "This node is locked: run `shoal swarm unlock`") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("never locked: %s", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := shoalIn(t, key+"\n", sock, "swarm", "unlock"); r.code != ExitFailure || !strings.Contains(r.stderr, "swarm could not be unlocked: invalid key provided") {
		t.Errorf("unlock with the rotated-out key: %s", r)
	}
	if r := shoalIn(t, key2+"\n", sock, "swarm", "unlock"); r.code != 0 {
		t.Fatalf("unlock: %s", r)
	}
	if d = <-started; d == nil {
		t.FailNow()
	}
	if r := shoalIn(t, "", host, "swarm", "update", "--autolock=false"); r.code != 0 || r.stdout != "Swarm updated.\n" {
		t.Errorf("update --autolock=false: %s", r)
	}
}
