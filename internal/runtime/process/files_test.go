package process

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/internal/runtime"
	"github.com/shoalproject/shoal/internal/testutil"
)

// shmRoot returns a fresh secrets root on /dev/shm, removed at the end.
func shmRoot(t *testing.T) string {
	t.Helper()
	return filepath.Join(testutil.ShmDir(t), "secrets")
}

func TestFilesUnderShoalFiles(t *testing.T) {
	t.Parallel()
	secretsRoot := shmRoot(t)
	r, _ := newSecretsRuntime(t, secretsRoot)
	s := shSpec(`echo "files=$SHOAL_FILES"; cat "$SHOAL_FILES/etc/app.yml"; echo; cat "$SHOAL_FILES/run/secrets/db"; echo; echo ready; sleep 60`)
	s.NodeID = "node1"
	s.Files = []runtime.File{
		{Target: "/etc/app.yml", Data: []byte("a: 1"), Mode: 0o640},
		{Target: "/run/secrets/db", Data: []byte("pw"), Mode: 0o400, Secret: true},
		{Target: "/plain", Data: []byte("p")},
	}
	h := start(t, r, s)
	waitForOutput(t, r, s.TaskID, "ready")
	out, _ := readLog(t, r, s.TaskID)
	files := filepath.Join(r.taskDir(s.TaskID), "files")
	if want := "files=" + files + "\na: 1\npw\nready\n"; out != want {
		t.Fatalf("output %q, want %q", out, want)
	}
	for target, mode := range map[string]os.FileMode{"/etc/app.yml": 0o640, "/run/secrets/db": 0o400, "/plain": 0o444} {
		fi, err := os.Stat(filepath.Join(files, target))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %v", target, fi, err, mode)
		}
	}
	// The secret is a link to tmpfs, never on the task folder's disk.
	secretDir := filepath.Join(secretsRoot, "node1", s.TaskID)
	link, err := os.Readlink(filepath.Join(files, "run/secrets/db"))
	if err != nil || filepath.Dir(link) != secretDir {
		t.Fatalf("secret link %q, %v; want a file in %s", link, err, secretDir)
	}
	if fi, err := os.Stat(secretDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("secrets folder %v, %v; want mode 0700", fi, err)
	}
	if err := r.Stop(testCtx(t), h.TaskID, 0); err != nil {
		t.Fatal(err)
	}
	wait(t, r, s.TaskID)
	if _, err := os.Stat(secretDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secrets folder after the task exited: %v; want it gone", err)
	}
	if err := r.Remove(testCtx(t), s.TaskID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(files); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("files after Remove: %v", err)
	}
}

func TestNoFilesNoShoalFiles(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	s := shSpec(`echo "files=${SHOAL_FILES-unset}"`)
	start(t, r, s)
	wait(t, r, s.TaskID)
	if out, _ := readLog(t, r, s.TaskID); out != "files=unset\n" {
		t.Errorf("output %q", out)
	}
	if _, err := os.Stat(filepath.Join(r.taskDir(s.TaskID), "files")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("files folder of a task without files: %v", err)
	}
}

func TestFilesRejected(t *testing.T) {
	t.Parallel()
	r, _ := newRuntime(t)
	diskRoot := filepath.Join(t.TempDir(), "secrets")
	var st syscall.Statfs_t
	onDisk := syscall.Statfs(filepath.Dir(diskRoot), &st) == nil && st.Type != unix.TMPFS_MAGIC
	for name, tc := range map[string]struct {
		root  string
		files []runtime.File
		want  string
	}{
		"relative target":  {"", []runtime.File{{Target: "etc/x", Data: []byte("x")}}, "not a clean absolute path"},
		"unclean target":   {"", []runtime.File{{Target: "/etc/../x", Data: []byte("x")}}, "not a clean absolute path"},
		"two at one place": {"", []runtime.File{{Target: "/x", Data: []byte("x")}, {Target: "/x", Data: []byte("y")}}, "two files at /x"},
		"named UID":        {"", []runtime.File{{Target: "/x", Data: []byte("x"), UID: "root"}}, "not a numeric ID"},
		"secret on disk":   {diskRoot, []runtime.File{{Target: "/run/secrets/x", Data: []byte("x"), Secret: true}}, "not on tmpfs"},
	} {
		if name == "secret on disk" && !onDisk {
			continue
		}
		rr := r
		if tc.root != "" {
			var err error
			if rr, err = Open(Options{Root: filepath.Join(t.TempDir(), "root"), NodeAddr: "127.0.0.1", SecretsRoot: tc.root}); err != nil {
				t.Fatal(err)
			}
			defer rr.Close()
		}
		s := spec("sleep", "60")
		s.Files = tc.files
		_, err := rr.Start(testCtx(t), s)
		if !errors.Is(err, runtime.ErrRejected) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Start: %v, want rejected with %q", name, err, tc.want)
		}
		if _, err := os.Stat(rr.taskDir(s.TaskID)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: task folder left behind", name)
		}
	}
}

// A task's configs and secrets leave the node when the task ends, on its
// own or stopped, not when it is removed: its logs stay until then.
func TestFilesGoWhenTheTaskEnds(t *testing.T) {
	t.Parallel()
	for _, stopped := range []bool{false, true} {
		secretsRoot := shmRoot(t)
		r, _ := newSecretsRuntime(t, secretsRoot)
		script := `echo ready; exit 3`
		if stopped {
			script = `echo ready; exec sleep 60`
		}
		s := shSpec(script)
		s.NodeID = "node1"
		s.Files = []runtime.File{
			{Target: "/etc/app.yml", Data: []byte("a: 1")},
			{Target: "/run/secrets/db", Data: []byte("pw"), Secret: true},
		}
		h := start(t, r, s)
		waitForOutput(t, r, s.TaskID, "ready")
		if stopped {
			if err := r.Stop(testCtx(t), h.TaskID, 0); err != nil {
				t.Fatal(err)
			}
		}
		wait(t, r, s.TaskID)
		files := filepath.Join(r.taskDir(s.TaskID), "files")
		secretDir := filepath.Join(secretsRoot, "node1", s.TaskID)
		for _, p := range []string{files, secretDir} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stopped %v: %s after the task ended: %v; want it gone", stopped, p, err)
			}
		}
		if out, _ := readLog(t, r, s.TaskID); out != "ready\n" {
			t.Errorf("stopped %v: log %q after the task ended, want it kept", stopped, out)
		}
	}
}
