package process

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/testutil"
)

// A local user who makes the secrets folder before shoal does owns it:
// the runtime refuses to start, naming the folder and what to do.
func TestSecretsRootMadeByAnotherUserRefused(t *testing.T) {
	t.Parallel()
	root := testutil.OthersShmDir(t)
	_, err := Open(Options{Root: filepath.Join(t.TempDir(), "root"), NodeAddr: "127.0.0.1", SecretsRoot: root, NodeID: "node1"})
	want := root + " is owned by uid 65534 with mode 0777, not by this user (uid 0) with mode 0700: " +
		"another user could read or swap what shoal writes there; remove it (rm -rf " + root + ") so that shoal makes it anew"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("open with a secrets folder of another user: %v; want refused with %q", err, want)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("the other user's folder got %v", entries)
	}
}

// The node's folder is checked too, and so is a folder open to others.
func TestSecretsNodeFolderChecked(t *testing.T) {
	t.Parallel()
	root := shmRoot(t)
	if err := os.MkdirAll(filepath.Join(root, "node1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "node1"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Root: filepath.Join(t.TempDir(), "root"), NodeAddr: "127.0.0.1", SecretsRoot: root, NodeID: "node1"})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "node1")+" has mode 0755, not 0700, open to other users") {
		t.Fatalf("open with a node folder open to others: %v; want refused", err)
	}
	// Search (x) for others, as a task of another user needs, is fine.
	if err := os.Chmod(filepath.Join(root, "node1"), 0o711); err != nil {
		t.Fatal(err)
	}
	r, err := Open(Options{Root: filepath.Join(t.TempDir(), "root"), NodeAddr: "127.0.0.1", SecretsRoot: root, NodeID: "node1"})
	if err != nil {
		t.Fatalf("open with a node folder of mode 0711: %v", err)
	}
	r.Close()
}

// A symbolic link in place of the secrets folder is refused, not followed.
func TestSecretsRootSymlinkRefused(t *testing.T) {
	t.Parallel()
	root := shmRoot(t)
	target := filepath.Join(filepath.Dir(root), "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, root); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Options{Root: filepath.Join(t.TempDir(), "root"), NodeAddr: "127.0.0.1", SecretsRoot: root, NodeID: "node1"})
	if err == nil || !strings.Contains(err.Error(), root+" is a symbolic link, not a folder") {
		t.Fatalf("open with a symlink as the secrets folder: %v; want refused", err)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("the link's target got %v", entries)
	}
}

// Someone who swaps the node's or a task's secrets folder for a symbolic
// link to their own folder while secrets are written must never get a
// byte of them: the runtime writes relative to the folders it opened.
func TestSecretsSwappedFolderGetsNothing(t *testing.T) {
	t.Parallel()
	root := shmRoot(t)
	attacker := filepath.Join(filepath.Dir(root), "attacker")
	if err := os.Mkdir(attacker, 0o777); err != nil {
		t.Fatal(err)
	}
	r, _ := newSecretsRuntime(t, root)
	secret := []byte("s3cret-pw")
	const node = "node1"
	nodeDir := filepath.Join(root, node)
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = spec().TaskID
	}
	// The node folder and every task folder, again and again.
	stop := testutil.SwapForLinks(attacker, func(n int) string {
		if n%2 == 0 {
			return nodeDir
		}
		return filepath.Join(nodeDir, ids[(n/2)%len(ids)])
	})
	for _, id := range ids {
		s := spec("true")
		s.TaskID = id
		s.NodeID = node
		s.Files = []runtime.File{{Target: "/run/secrets/db", Data: secret, Mode: 0o400, Secret: true}}
		dir := r.taskDir(id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		// Errors are fine (the folders move under the runtime's feet);
		// only where the bytes land matters.
		_, _ = r.writeFiles(s, dir, nil)
	}
	stop()
	testutil.RequireNoSecretIn(t, attacker, secret)
}

// A task that runs as another user reads its secrets (the node's folder
// lets it through, the task's secrets folder is its own).
func TestSecretsOfTaskAsAnotherUser(t *testing.T) {
	testutil.RequireRoot(t)
	t.Parallel()
	secretsRoot := shmRoot(t)
	// As /dev/shm, the folder above the root lets everyone through.
	if err := os.Chmod(filepath.Dir(secretsRoot), 0o711); err != nil {
		t.Fatal(err)
	}
	r, root := newSecretsRuntime(t, secretsRoot)
	// Let other users reach the root (the test's temporary folders are 0700).
	for _, d := range []string{filepath.Dir(filepath.Dir(root)), filepath.Dir(root)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	s := shSpec(`cat "$SHOAL_FILES/run/secrets/db"`)
	s.Container.User = "nobody"
	s.Files = []runtime.File{{Target: "/run/secrets/db", Data: []byte("pw"), Mode: 0o400, Secret: true}}
	start(t, r, s)
	st := wait(t, r, s.TaskID)
	if out, errOut := readLog(t, r, s.TaskID); st.ExitCode != 0 || out != "pw" {
		t.Errorf("task as nobody: exit %d, stdout %q, stderr %q; want its secret", st.ExitCode, out, errOut)
	}
}

// The task folders are written by path, so their root must be private
// too; the way out keeps the running tasks' state.
func TestTaskRootOpenToOthersRefused(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := New(root, "127.0.0.1")
	want := root + " has mode 0777, not 0700, open to other users: another user could read or swap what shoal writes there; " +
		"if it is this node's, make it private (chown "
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "rm -rf") {
		t.Fatalf("New over a task root open to all: %v; want refused with %q", err, want)
	}
}

// The node's folder, made at start, goes on Close unless a task's secrets
// are in it.
func TestCloseRemovesUnusedNodeFolder(t *testing.T) {
	t.Parallel()
	root := shmRoot(t)
	r, err := Open(Options{Root: filepath.Join(t.TempDir(), "root"), NodeAddr: "127.0.0.1", SecretsRoot: root, NodeID: "node1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "node1")); err != nil {
		t.Fatalf("node folder after Open: %v", err)
	}
	r.Close()
	if _, err := os.Stat(filepath.Join(root, "node1")); !os.IsNotExist(err) {
		t.Errorf("node folder after Close: %v; want it gone", err)
	}
}
