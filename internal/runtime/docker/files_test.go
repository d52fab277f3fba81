package docker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/testutil"
)

// A files folder made first by another user, or a link in its place, stops
// the runtime at start, naming the folder and what to do.
func TestFilesDirOfAnotherUserRefused(t *testing.T) {
	testutil.RequireDocker(t)
	t.Parallel()
	bad := testutil.OthersShmDir(t)
	link := filepath.Join(testutil.ShmDir(t), "files")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{
		bad:  bad + " is owned by uid 65534 with mode 0777, not by this user (uid 0) with mode 0700",
		link: link + " is a symbolic link, not a folder",
	} {
		r, err := New(testCtx(t), Options{NodeID: newNodeID(), NodeAddr: "127.0.0.1", FilesDir: dir})
		if err == nil {
			r.Close()
		}
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "rm -rf "+dir) {
			t.Errorf("New over %s: %v; want refused with %q", dir, err, want)
		}
	}
}

// The process runtime keeps its tasks' secrets in the node's folder too:
// the docker runtime deletes only folders of its own.
func TestNewLeavesOtherRuntimesFiles(t *testing.T) {
	testutil.RequireDocker(t)
	t.Parallel()
	root := testutil.ShmDir(t)
	node := newNodeID()
	other := filepath.Join(root, node, "processtask1", "0")
	if err := os.MkdirAll(filepath.Dir(other), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, []byte("pw"), 0o400); err != nil {
		t.Fatal(err)
	}
	r, err := New(testCtx(t), Options{NodeID: node, NodeAddr: "127.0.0.1", FilesDir: root})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a process task's secret after New: %v; want it kept", err)
	}
}

// Someone who swaps the task's files folder for a link to their own folder
// while the files are written never gets a byte of them.
func TestFilesSwappedFolderGetsNothing(t *testing.T) {
	testutil.RequireDocker(t)
	t.Parallel()
	root := testutil.ShmDir(t)
	attacker := filepath.Join(testutil.ShmDir(t), "attacker")
	if err := os.Mkdir(attacker, 0o777); err != nil {
		t.Fatal(err)
	}
	node := newNodeID()
	r, err := New(testCtx(t), Options{NodeID: node, NodeAddr: "127.0.0.1", FilesDir: root})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	secret := []byte("s3cret-token")
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprintf("task%d", i)
	}
	// The runtime's folder and every task folder, again and again.
	stop := testutil.SwapForLinks(attacker, func(n int) string {
		if n%2 == 0 {
			return r.filesDir
		}
		return r.taskFilesDir(ids[(n/2)%len(ids)])
	})
	for _, id := range ids {
		_, _ = r.writeFiles(id, []runtime.File{{Target: "/run/secrets/token", Data: secret, Secret: true}})
	}
	stop()
	testutil.RequireNoSecretIn(t, attacker, secret)
}
