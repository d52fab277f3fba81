package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/daemon"
)

func TestDataFolderInUseIsRefused(t *testing.T) {
	d, _ := devCluster(t)
	_, err := daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: d.DataDir(), Logger: quietLog})
	if err == nil || !strings.Contains(err.Error(), "in use by another running shoal") {
		t.Fatalf("second shoal on the same data folder: %v, want 'in use by another running shoal'", err)
	}
}

func TestCorruptDataFolderFailsClearly(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "raft", "raft.db"), bytes.Repeat([]byte("not a bolt database "), 500), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(shoalBin, "dev", "--data-dir", dir)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("shoal dev started on a corrupt data folder:\n%s", out)
	}
	if cmd.ProcessState.ExitCode() != 1 {
		t.Errorf("exit code %d, want 1", cmd.ProcessState.ExitCode())
	}
	text := string(out)
	if !strings.Contains(text, "corrupt") || !strings.Contains(text, "raft.db") || strings.Contains(text, "panic") {
		t.Errorf("message should name the corrupt file and not panic:\n%s", text)
	}
	// Nothing was changed: the file is as it was.
	b, _ := os.ReadFile(filepath.Join(dir, "raft", "raft.db"))
	if !bytes.HasPrefix(b, []byte("not a bolt database")) {
		t.Error("the corrupt file was modified")
	}
}

func TestCorruptNodeIDFailsClearly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node-id"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: dir, Logger: quietLog})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("got %v, want an error saying node-id is corrupt", err)
	}
}
