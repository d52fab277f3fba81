package privdir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// rootDir is Windows' (and macOS') Dir; these run it on Linux.

func openRootT(t *testing.T) *rootDir {
	t.Helper()
	p := filepath.Join(t.TempDir(), "priv")
	d, err := openRoot(p, nil)
	if err != nil {
		t.Fatalf("openRoot(%s): %v", p, err)
	}
	t.Cleanup(func() { d.Close() })
	if fi, err := os.Lstat(p); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || d.Path() != p {
		t.Fatalf("made %v, %v, path %q; want a 0700 folder at %s", fi, err, d.Path(), p)
	}
	return d
}

func TestRootDirRefusesLinksAndFiles(t *testing.T) {
	d := openRootT(t)
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A link inside d to a folder inside d: os.Root would follow it.
	if _, err := d.Mkdir("real"); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"out": outside, "in": "real", "file": victim} {
		if err := os.Symlink(target, filepath.Join(d.Path(), name)); err != nil {
			t.Fatal(err)
		}
		var unsafe *UnsafeError
		if _, err := d.Sub(name); !errors.As(err, &unsafe) {
			t.Errorf("Sub(%s) through a link: %v; want an UnsafeError", name, err)
		}
		if err := d.WriteFile(name, []byte("secret"), -1, -1, 0o400); err == nil {
			t.Errorf("WriteFile(%s) over a link succeeded", name)
		}
	}
	if err := d.WriteFile("plain", nil, -1, -1, 0o400); err != nil {
		t.Fatal(err)
	}
	var unsafe *UnsafeError
	if _, err := d.Sub("plain"); !errors.As(err, &unsafe) || unsafe.Problem != "is not a folder" {
		t.Errorf("Sub of a file: %v; want not a folder", err)
	}
	if _, err := openRoot(victim, nil); !errors.As(err, &unsafe) {
		t.Errorf("openRoot of a file: %v; want an UnsafeError", err)
	}
	for _, name := range []string{"out", "in", "file", "plain", "real", "missing"} {
		if err := d.RemoveAll(name); err != nil {
			t.Errorf("RemoveAll(%s): %v", name, err)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep" {
		t.Errorf("the link's target: %q, %v; want it untouched", b, err)
	}
	if names, err := d.Names(); err != nil || len(names) != 0 {
		t.Errorf("Names after RemoveAll: %v, %v; want none", names, err)
	}
	for _, bad := range []string{"", ".", "..", "a/b"} {
		if _, err := d.Sub(bad); err == nil {
			t.Errorf("Sub(%q) succeeded", bad)
		}
	}
}

func TestRootDirWritesAndRemoves(t *testing.T) {
	d := openRootT(t)
	task, err := d.Mkdir("task")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Mkdir("task"); err == nil {
		t.Error("Mkdir of an existing folder succeeded")
	}
	if err := task.WriteFile("0", []byte("pw"), -1, -1, 0o440); err != nil {
		t.Fatal(err)
	}
	if err := task.WriteFile("0", []byte("again"), -1, -1, 0o440); err == nil {
		t.Error("WriteFile over an existing file succeeded")
	}
	p := filepath.Join(d.Path(), "task", "0")
	if b, err := os.ReadFile(p); err != nil || string(b) != "pw" {
		t.Errorf("content %q, %v", b, err)
	}
	if err := task.Chown(os.Getuid()+1, -1); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Chown to another user: %v; want unsupported", err)
	}
	if err := task.Chown(-1, -1); err != nil {
		t.Errorf("Chown(-1, -1): %v", err)
	}
	if tmpfs, err := task.IsTmpfs(); tmpfs || err != nil {
		t.Errorf("IsTmpfs = %v, %v", tmpfs, err)
	}
	if _, err := d.Mkdir("empty"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"task", "empty", "missing"} {
		if err := d.RemoveEmpty(name); err != nil {
			t.Errorf("RemoveEmpty(%s): %v", name, err)
		}
	}
	if names, err := d.Names(); err != nil || len(names) != 1 || names[0] != "task" {
		t.Errorf("left %v, %v; want only the full folder", names, err)
	}
	task.Close()
	if err := task.WriteFile("1", nil, -1, -1, 0o400); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFile after Close: %v; want ErrClosed", err)
	}
	if err := d.RemoveAll("task"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.Path(), "task")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after RemoveAll: %v", err)
	}
}
