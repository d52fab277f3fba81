package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// lock takes f's exclusive lock without waiting; busy says another
// process holds it.
func lock(f *os.File) (busy bool, err error) {
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	return errors.Is(err, windows.ERROR_LOCK_VIOLATION), err
}

// checkOwned fails unless path is a real folder, not a link or junction.
// Its ACL is not checked (never run on a Windows host; see README,
// "Windows nodes"): the folder is as private as its parent makes it.
func checkOwned(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("open data folder %s: %w", path, err)
	}
	if fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 || !fi.IsDir() {
		return fmt.Errorf("data folder %s is not a folder (a link, a junction or a file): pass a real folder with --data-dir", path)
	}
	return nil
}

// checkAncestors checks nothing on Windows, where who may rename a
// folder's entries is an ACL's matter, not a mode's.
func checkAncestors(string) error { return nil }
