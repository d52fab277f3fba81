package privdir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalproject/shoal/internal/privdir"
)

func open(t *testing.T, path string) *privdir.Dir {
	t.Helper()
	d, err := privdir.Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestOpenMakesPrivateFolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "priv")
	d := open(t, p)
	fi, err := os.Lstat(p)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("made %v, %v; want a 0700 folder", fi, err)
	}
	if d.Path() != p {
		t.Errorf("Path = %q, want %q", d.Path(), p)
	}
	// Opened again as it is.
	open(t, p).Close()
}

func TestOpenRefusesUnsafeFolders(t *testing.T) {
	base := t.TempDir()
	for name, make := range map[string]func(p string) error{
		"open to others": func(p string) error {
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			return os.Chmod(p, 0o757)
		},
		"symbolic link": func(p string) error { return os.Symlink(base, p) },
		"a file":        func(p string) error { return os.WriteFile(p, nil, 0o600) },
	} {
		p := filepath.Join(base, strings.ReplaceAll(name, " ", "-"))
		if err := make(p); err != nil {
			t.Fatal(err)
		}
		_, err := privdir.Open(p)
		var unsafe *privdir.UnsafeError
		if !errors.As(err, &unsafe) || unsafe.Path != p || !strings.Contains(err.Error(), "rm -rf "+p) {
			t.Errorf("%s: Open: %v; want an UnsafeError naming %s and what to do", name, err, p)
		}
	}
}

func TestOpenRefusesParentOthersMayChange(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := privdir.Open(filepath.Join(parent, "priv"))
	if err == nil || !strings.Contains(err.Error(), parent+" is owned by uid") || !strings.Contains(err.Error(), "sticky") {
		t.Fatalf("Open below a world-writable folder: %v; want refused", err)
	}
	// Sticky, as /dev/shm and /tmp: others may not rename our entries.
	if err := os.Chmod(parent, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	open(t, filepath.Join(parent, "priv"))
}

// Nothing is written or removed through a link found in the folder.
func TestWritesAndRemovalsNeverFollowLinks(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "priv"))
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(d.Path(), "file")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile("file", []byte("secret"), -1, -1, 0o400); err == nil {
		t.Error("WriteFile over a link succeeded")
	}
	if err := os.Symlink(outside, filepath.Join(d.Path(), "dir")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Sub("dir"); err == nil {
		t.Error("Sub through a link succeeded")
	}
	if _, err := d.Mkdir("dir"); err == nil {
		t.Error("Mkdir over a link succeeded")
	}
	for _, name := range []string{"file", "dir"} {
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
		if err := d.WriteFile(bad, nil, -1, -1, 0o400); err == nil {
			t.Errorf("WriteFile(%q) succeeded", bad)
		}
	}
}

func TestWriteFileAndRemoveAll(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "priv"))
	sub, err := d.Mkdir("task")
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.WriteFile("0", []byte("pw"), -1, -1, 0o440); err != nil {
		t.Fatal(err)
	}
	if err := sub.WriteFile("0", []byte("again"), -1, -1, 0o440); err == nil {
		t.Error("WriteFile over an existing file succeeded")
	}
	deeper, err := sub.Mkdir("deeper")
	if err != nil {
		t.Fatal(err)
	}
	if err := deeper.WriteFile("x", []byte("x"), -1, -1, 0o400); err != nil {
		t.Fatal(err)
	}
	deeper.Close()
	sub.Close()
	p := filepath.Join(d.Path(), "task", "0")
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o440 {
		t.Fatalf("written file %v, %v; want mode 0440", fi, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "pw" {
		t.Errorf("content %q", b)
	}
	if err := d.RemoveAll("task"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d.Path(), "task")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after RemoveAll: %v", err)
	}
	if err := d.RemoveAll("task"); err != nil {
		t.Errorf("RemoveAll of a missing name: %v", err)
	}
}

func TestAllowSearch(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "priv"))
	if err := d.AllowSearch(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.Path()); err != nil || fi.Mode().Perm() != 0o711 {
		t.Fatalf("after AllowSearch: %v, %v; want 0711", fi, err)
	}
	// Still private: others may pass, not list or change.
	open(t, d.Path())
}

func TestRemoveEmpty(t *testing.T) {
	d := open(t, filepath.Join(t.TempDir(), "priv"))
	for _, name := range []string{"empty", "full"} {
		sub, err := d.Mkdir(name)
		if err != nil {
			t.Fatal(err)
		}
		if name == "full" {
			if err := sub.WriteFile("x", nil, -1, -1, 0o400); err != nil {
				t.Fatal(err)
			}
		}
		sub.Close()
	}
	for _, name := range []string{"empty", "full", "missing"} {
		if err := d.RemoveEmpty(name); err != nil {
			t.Errorf("RemoveEmpty(%s): %v", name, err)
		}
	}
	if names, err := d.Names(); err != nil || len(names) != 1 || names[0] != "full" {
		t.Errorf("left %v, %v; want only the full folder", names, err)
	}
}
