package e2e

import (
	"context"
	"os"
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
