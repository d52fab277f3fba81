// Package privdir keeps private folders: folders owned by this process's
// user that no one else may change, checked when opened, and changed only
// relative to their open descriptor.
//
// A path string is looked up anew at every use, so whoever can rename or
// replace one of its folders (a symbolic link where a folder was) can
// redirect a write between two calls. A Dir is an open descriptor instead:
// every file and folder below it is made (O_EXCL, O_NOFOLLOW), opened
// (O_NOFOLLOW) and removed (unlinkat) relative to it, so what is written
// lands in the folder that was checked, whatever happens to the path.
//
// That is the Linux Dir (privdir_linux.go). Elsewhere (Windows, macOS)
// Dir is rootDir (rootdir.go): Go's os.Root, which keeps every operation
// inside the opened folder too. On Windows, which has ACLs, not modes, a
// folder it makes gets a protected DACL for SYSTEM, Administrators and
// this user only, and an existing one that anyone else may read or change,
// or whose parent lets anyone else rename it, is refused (internal/winacl).
// On macOS nothing is checked: the folder is as private as its parent
// makes it.
package privdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
)

// UnsafeError says why a folder cannot be trusted: made by another user,
// open to others, or not a folder at all.
type UnsafeError struct {
	Path string
	// Problem completes "PATH ...", Fix says what to do.
	Problem, Fix string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("%s %s: another user could read or swap what shoal writes there; %s", e.Path, e.Problem, e.Fix)
}

// unsafe is the error of a folder that shoal should make anew.
func unsafe(path, problem string) *UnsafeError {
	rm := "rm -rf"
	if goruntime.GOOS == "windows" {
		rm = "rmdir /s /q"
	}
	return &UnsafeError{Path: path, Problem: problem, Fix: fmt.Sprintf("remove it (%s %s) so that shoal makes it anew", rm, path)}
}

// ErrClosed is returned by the methods of a closed Dir.
var ErrClosed = errors.New("private folder closed")

// Fill writes data to the new file f, then gives it its owner (-1 keeps
// this user's) and mode, through the open file, not its path.
func Fill(f *os.File, data []byte, uid, gid int, mode os.FileMode) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if (uid != -1 && uid != os.Geteuid()) || (gid != -1 && gid != os.Getegid()) {
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("set owner %d:%d (the agent must run as root to give files to another user): %w", uid, gid, err)
		}
	}
	return f.Chmod(mode)
}

// checkName refuses names that are not one entry of a folder.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return fmt.Errorf("invalid file name %q", name)
	}
	return nil
}
