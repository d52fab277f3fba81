package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"

	"github.com/shoalproject/shoal/internal/winacl"
)

// lock takes f's exclusive lock without waiting; busy says another
// process holds it.
func lock(f *os.File) (busy bool, err error) {
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	return errors.Is(err, windows.ERROR_LOCK_VIOLATION), err
}

// mkdirPrivate makes the folder path with a protected DACL for SYSTEM,
// Administrators and this user only (internal/winacl), which what is
// made in it inherits.
func mkdirPrivate(path string) error { return winacl.Mkdir(path) }

// checkOwned fails unless path is a real folder, not a link or junction,
// owned by SYSTEM, Administrators or this user, that no one else may
// change: it holds the node's key and the tasks' folders.
func checkOwned(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("open data folder %s: %w", path, err)
	}
	if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 || !fi.IsDir() {
		return fmt.Errorf("data folder %s is not a folder (a link, a junction or a file): pass a real folder with --data-dir", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open data folder %s: %w", path, err)
	}
	defer f.Close()
	problem, err := winacl.Check(f, winacl.Write)
	if err != nil {
		return fmt.Errorf("data folder %s: %w", path, err)
	}
	if problem != "" {
		return fmt.Errorf("data folder %s %s: another user could change what shoal keeps there; "+
			"remove it (rmdir /s /q %s) so that shoal makes it anew for this user only, or pass another --data-dir", path, problem, path)
	}
	return nil
}

// checkAncestors fails unless no folder above path that exists lets
// anyone but SYSTEM, Administrators and this user rename its entries:
// they could swap the data folder for one of theirs while shoal runs.
func checkAncestors(path string) error {
	for p := filepath.Dir(path); ; p = filepath.Dir(p) {
		if problem, err := parentProblem(p); err != nil {
			return fmt.Errorf("data folder %s: %w", path, err)
		} else if problem != "" {
			return fmt.Errorf("%s, a folder above data folder %s, %s: another user could swap the data folder for one of theirs; "+
				"pass a --data-dir whose folders above it only SYSTEM, Administrators and this user may change (as C:\\ProgramData)", p, path, problem)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// parentProblem is winacl.CheckParent of the folder p; a missing folder
// has none (shoal makes it).
func parentProblem(p string) (string, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	return winacl.CheckParent(f)
}
