package datadir_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/api"
	"github.com/shoalproject/shoal/internal/datadir"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func open(t *testing.T, path string) *datadir.Dir {
	t.Helper()
	d, err := datadir.Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestOpenCreatesPrivateFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "data")
	d := open(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder mode %v, want a 0700 directory", fi.Mode())
	}
	if d.Path != path {
		t.Errorf("Path = %q, want %q", d.Path, path)
	}
	if got := d.Join("raft", "raft.db"); got != filepath.Join(path, "raft", "raft.db") {
		t.Errorf("Join = %q", got)
	}
}

func TestOpenMakesPathAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	d := open(t, "rel")
	if d.Path != filepath.Join(dir, "rel") {
		t.Errorf("Path = %q, want %q", d.Path, filepath.Join(dir, "rel"))
	}
}

func TestOpenIsExclusive(t *testing.T) {
	path := t.TempDir()
	first, err := datadir.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := datadir.Open(path)
	if err == nil {
		second.Close()
		first.Close()
		t.Fatal("a second Open of a held folder succeeded")
	}
	if !strings.Contains(err.Error(), "in use by another running shoal") || !strings.Contains(err.Error(), path) {
		t.Errorf("second Open error = %q", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close twice is fine.
	if err := first.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	third, err := datadir.Open(path)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	third.Close()
}

func TestNodeIDMadeOnceAndStable(t *testing.T) {
	path := t.TempDir()
	d, err := datadir.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.NodeID()
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != api.IDLength {
		t.Fatalf("NodeID = %q: length %d", id, len(id))
	}
	again, err := d.NodeID()
	if err != nil || again != id {
		t.Fatalf("second NodeID = %q, %v; want %q", again, err, id)
	}
	fi, err := os.Stat(d.Join("node-id"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node-id file: %v %v", fi, err)
	}
	if _, err := os.Stat(d.Join("node-id.tmp")); !os.IsNotExist(err) {
		t.Errorf("node-id.tmp left behind: %v", err)
	}
	d.Close()

	d2 := open(t, path)
	reopened, err := d2.NodeID()
	if err != nil || reopened != id {
		t.Fatalf("NodeID after reopen = %q, %v; want %q", reopened, err, id)
	}

	// Another folder gets another ID.
	other, err := open(t, t.TempDir()).NodeID()
	if err != nil || other == id {
		t.Errorf("other folder NodeID = %q, %v", other, err)
	}
}

func TestNodeIDCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"short":    "abc\n",
		"empty":    "",
		"too long": strings.Repeat("a", api.IDLength+1),
	} {
		t.Run(name, func(t *testing.T) {
			d := open(t, t.TempDir())
			if err := os.WriteFile(d.Join("node-id"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			id, err := d.NodeID()
			if err == nil {
				t.Fatalf("NodeID = %q from a corrupt file", id)
			}
			if !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("NodeID error = %q, want it to mention corrupt", err)
			}
			// The corrupt file is left alone for the operator.
			b, _ := os.ReadFile(d.Join("node-id"))
			if string(b) != content {
				t.Errorf("node-id rewritten to %q", b)
			}
		})
	}
	// Surrounding white space is fine.
	d := open(t, t.TempDir())
	want := api.NewID()
	os.WriteFile(d.Join("node-id"), []byte("  "+want+"\n\n"), 0o600)
	if id, err := d.NodeID(); err != nil || id != want {
		t.Errorf("NodeID = %q, %v; want %q", id, err, want)
	}
}

func TestOpenFailsOnAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if d, err := datadir.Open(path); err == nil {
		d.Close()
		t.Fatal("Open of a regular file succeeded")
	}
}

// A data folder other users may open or swap holds the Raft log, the
// secrets' key and the API socket: it is refused, and left as it is.
func TestOpenRefusesFolderOthersMayChange(t *testing.T) {
	base := t.TempDir()
	open777 := filepath.Join(base, "open")
	mkdirOpen(t, open777)
	target := filepath.Join(base, "elsewhere")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{open777, "chmod go-w"},
		{link, "not a folder"},
	} {
		d, err := datadir.Open(c.path)
		if err == nil {
			d.Close()
			t.Errorf("Open(%s) = nil error, want a refusal", c.path)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--data-dir") {
			t.Errorf("Open(%s) = %v, want it to say %q and --data-dir", c.path, err, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(open777, "lock")); !os.IsNotExist(err) {
		t.Errorf("a refused folder got a lock file (%v)", err)
	}
	if fi, _ := os.Stat(open777); fi.Mode().Perm() != 0o777 {
		t.Errorf("a refused folder's mode changed to %v", fi.Mode())
	}
}

// A private data folder inside a folder others may write (not sticky) is
// no safer: another user renames it away and puts their own in its place
// while shoal runs, and shoal's next open of raft.db, or of its socket,
// lands in theirs. A sticky folder (as /tmp) lets no one rename what is
// not theirs.
func TestOpenRefusesFolderInsideOneOthersMayChange(t *testing.T) {
	base := t.TempDir()
	shared := filepath.Join(base, "shared")
	mkdirOpen(t, shared)
	for _, path := range []string{filepath.Join(shared, "data"), filepath.Join(shared, "deeper", "data")} {
		d, err := datadir.Open(path)
		if err == nil {
			d.Close()
			t.Errorf("Open(%s) = nil error, want a refusal", path)
			continue
		}
		if want := shared + ", a folder above data folder " + path + ", is owned by uid"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--data-dir") {
			t.Errorf("Open(%s) = %v, want it to name %s and --data-dir", path, err, shared)
		}
	}
	if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	d, err := datadir.Open(filepath.Join(shared, "data"))
	if err != nil {
		t.Fatalf("Open in a sticky folder: %v", err)
	}
	d.Close()
}

// mkdirOpen makes the folder path, mode 0777 whatever the umask.
func mkdirOpen(t *testing.T, path string) {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
}
