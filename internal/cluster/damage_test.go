package cluster_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/cluster"
	"github.com/shoalproject/shoal/internal/state"
	"github.com/shoalproject/shoal/internal/testutil"
)

// usedFolder makes a Raft folder as a manager leaves it: a snapshot, and
// log entries before and after it.
func usedFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	m := open(t, dir, state.NewStore())
	waitLeader(t, m)
	createService(t, m, "a")
	createService(t, m, "b")
	if err := m.Snapshot(); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	createService(t, m, "c")
	createService(t, m, "d")
	m.close(t)
	return dir
}

// openRecovered opens dir, turning a panic into an error that fails the test.
func openRecovered(dir string, cfg cluster.Config) (r *cluster.Raft, err error, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	cfg.Dir = dir
	r, err = cluster.Open(cfg, state.NewStore())
	return r, err, nil
}

// openRefused opens dir as node id, of a cluster known to exist, and
// returns why it was refused; it fails the test when Open panicked,
// succeeded, or changed a file of dir.
func openRefused(t *testing.T, dir, id string) error {
	t.Helper()
	before := testutil.FolderFiles(t, dir)
	r, err, p := openRecovered(dir, cluster.Config{NodeID: id, Fast: true, Existing: true})
	if p != nil {
		t.Fatalf("Open panicked: %v", p)
	}
	if err == nil {
		r.Close()
		t.Fatal("Open succeeded")
	}
	if diff := testutil.SameFiles(before, testutil.FolderFiles(t, dir)); diff != "" {
		t.Errorf("the failed Open changed the folder: %s", diff)
	}
	return err
}

func TestDamagedFolderIsRefusedAndLeftAlone(t *testing.T) {
	for _, dmg := range testutil.RaftDamages() {
		t.Run(dmg.Name, func(t *testing.T) {
			dir := usedFolder(t)
			dmg.Apply(t, dir)
			msg := openRefused(t, dir, nodeID).Error()
			t.Log(msg)
			if !strings.Contains(msg, dmg.File) || !strings.Contains(msg, "restore") || !strings.Contains(msg, "move it away") || strings.Contains(msg, "\n") {
				t.Errorf("error = %q, want one line naming %s and saying to restore a backup or move the folder away", msg, dmg.File)
			}
		})
	}
}

func TestMissingLogWithoutMarkersBootstraps(t *testing.T) {
	// Nothing says this folder held a cluster: it starts one.
	m := open(t, filepath.Join(t.TempDir(), "raft"), state.NewStore())
	waitLeader(t, m)
}

func TestMissingLogOfExistingClusterIsRefused(t *testing.T) {
	// The caller knows a cluster ran here (shoal dev: the join-token
	// file), and there is no snapshot either.
	dir := t.TempDir()
	r, err := cluster.Open(cluster.Config{Dir: dir, NodeID: nodeID, Fast: true, Existing: true}, state.NewStore())
	if err == nil {
		r.Close()
		t.Fatal("Open started a new cluster in a folder that held one")
	}
	var dmg *cluster.DamagedError
	if !errors.As(err, &dmg) || filepath.Base(dmg.File) != "raft.db" {
		t.Errorf("error = %v, want a DamagedError naming raft.db", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("the refused Open created %v", ents)
	}
}

// TestFolderOfAnotherNodeIsRefused: a Raft folder whose configuration
// does not hold this node's ID (its node-id was replaced, or the folder
// came from another node) would never elect this manager: the start
// would hang. Open refuses it, naming raft.db and both IDs, with the
// configuration in the snapshot and in the log after it.
func TestFolderOfAnotherNodeIsRefused(t *testing.T) {
	for name, dir := range map[string]string{"snapshot and log": usedFolder(t), "log only": logOnlyFolder(t)} {
		t.Run(name, func(t *testing.T) {
			const other = "othernode0000000000000000"
			err := openRefused(t, dir, other)
			var dmg *cluster.DamagedError
			if !errors.As(err, &dmg) || filepath.Base(dmg.File) != "raft.db" || !strings.Contains(err.Error(), other) || !strings.Contains(err.Error(), nodeID) {
				t.Errorf("error = %v, want a DamagedError naming raft.db, %s and %s", err, other, nodeID)
			}
		})
	}
}

// logOnlyFolder is a Raft folder with a log and no snapshot.
func logOnlyFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	m := open(t, dir, state.NewStore())
	waitLeader(t, m)
	createService(t, m, "a")
	m.close(t)
	return dir
}
