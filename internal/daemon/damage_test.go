package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A data folder that held a cluster but lost its node-id would get a new
// node ID that its Raft configuration does not hold: the manager would
// never lead, and the start would hang until it timed out with nothing
// said about the file. It is refused at once, naming the file, and no
// node-id is written.
func TestDevRefusesAFolderThatLostItsNodeID(t *testing.T) {
	dataDir := t.TempDir()
	d, err := StartDev(testCtx(t), DevConfig{DataDir: dataDir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	idPath := filepath.Join(dataDir, "node-id")
	if err := os.Remove(idPath); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err = StartDev(ctx, DevConfig{DataDir: dataDir, Logger: quiet})
	if err == nil {
		d.Close()
		t.Fatal("shoal dev started on a folder that lost its node-id")
	}
	if errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), idPath) || !strings.Contains(err.Error(), "restore") {
		t.Errorf("error = %v, want one naming %s and saying what to do", err, idPath)
	}
	if _, err := os.Stat(idPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused start wrote %s (%v)", idPath, err)
	}
}
