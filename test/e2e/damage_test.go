package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalproject/shoal/internal/daemon"
	"github.com/shoalproject/shoal/internal/testutil"
)

// TestDamagedDataFolderStopsShoalDev damages, in every way of
// testutil.RaftDamages, a copy of the data folder of a cluster that runs a
// task, and starts `shoal dev` on it. Each start must stop with one line
// naming the file and what to do, exit 1, change no file, and leave the
// task running: a start from an empty state would stop every task it no
// longer knows.
func TestDamagedDataFolderStopsShoalDev(t *testing.T) {
	dir := t.TempDir()
	d, err := daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	c := clientOf(t, d)
	ctx := ctxTimeout(t, 60*time.Second)
	_, tasks := createRunning(t, ctx, c, processSpec("keep", 1, "sleep", "600"))
	pid := pidOf(t, tasks[0])
	// A snapshot, and log entries after it.
	if err := d.Manager().Raft().Snapshot(); err != nil {
		t.Fatal(err)
	}
	createRunning(t, ctx, c, processSpec("after", 1, "sleep", "600"))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The intact folder starts, adopts its tasks, and removes them.
		d, err := daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: dir, Logger: quietLog})
		if err != nil {
			t.Errorf("restart on the intact folder: %v", err)
			return
		}
		removeAll(t, clientOf(t, d))
		d.Close()
	})

	for _, dmg := range testutil.RaftDamages() {
		t.Run(dmg.Name, func(t *testing.T) {
			copyDir := filepath.Join(t.TempDir(), "data")
			if out, err := exec.Command("cp", "-a", dir, copyDir).CombinedOutput(); err != nil {
				t.Fatalf("copy the data folder: %v %s", err, out)
			}
			dmg.Apply(t, filepath.Join(copyDir, "raft"))
			before := testutil.FolderFiles(t, copyDir)

			runCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(runCtx, shoalBin, "dev", "--data-dir", copyDir, "--ingress", "off", "--docker=false")
			out, _ := cmd.CombinedOutput()
			text := strings.TrimSpace(string(out))
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Errorf("shoal dev exited %d, want 1; it printed:\n%s", code, text)
			}
			if strings.Contains(text, "\n") || !strings.HasPrefix(text, "Error: ") || !strings.Contains(text, dmg.File) ||
				!strings.Contains(text, "restore it from a backup, or move it away") {
				t.Errorf("shoal dev printed:\n%s\nwant one error line naming %s and saying to restore a backup or move the folder away", text, dmg.File)
			}
			if diff := testutil.SameFiles(before, testutil.FolderFiles(t, copyDir)); diff != "" {
				t.Errorf("the refused start changed the data folder: %s", diff)
			}
			if !alive(pid) {
				t.Fatalf("the task's process %d was stopped", pid)
			}
		})
	}
}

// TestUsedDataFolderWithoutRaftIsRefused: a folder whose join-token shows
// it held a cluster, with its whole Raft folder gone, does not become a new
// cluster.
func TestUsedDataFolderWithoutRaftIsRefused(t *testing.T) {
	dir := t.TempDir()
	d, err := daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: dir, Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "raft")); err != nil {
		t.Fatal(err)
	}
	before := testutil.FolderFiles(t, dir)
	_, err = daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: dir, Logger: quietLog})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "raft", "raft.db")+" is missing") {
		t.Fatalf("start without the Raft folder: %v, want raft.db named as missing", err)
	}
	if diff := testutil.SameFiles(before, testutil.FolderFiles(t, dir)); diff != "" {
		t.Errorf("the refused start changed the data folder: %s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft")); err == nil {
		t.Error("the refused start made a raft folder")
	}
}

// TestFirstStartThatFailedEarlyStartsAgain: node-id is written before Raft
// starts, so a folder with only a node-id (a first start that failed in
// between) held no cluster, and starts one.
func TestFirstStartThatFailedEarlyStartsAgain(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "node-id"), []byte("abcdefghijklmnopqrstuvwxy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.StartDev(context.Background(), daemon.DevConfig{DataDir: dir, Logger: quietLog})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if d.NodeID() != "abcdefghijklmnopqrstuvwxy" {
		t.Errorf("node ID %q, want the one in node-id", d.NodeID())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
