package runtime

import (
	"fmt"
	"os"
	"path"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/shoalproject/shoal/api"

	"github.com/shoalproject/shoal/internal/privdir"
)

// Helpers the runtimes share to write a task's configs and secrets.

// DefaultFileMode is the mode of a task file that sets none.
const DefaultFileMode = 0o444

// Perm is the file's permission bits, DefaultFileMode when it sets none.
func (f File) Perm() os.FileMode {
	if f.Mode == 0 {
		return DefaultFileMode
	}
	return os.FileMode(f.Mode) & os.ModePerm
}

// CheckTarget fails (ErrRejected) unless the file's target is a clean
// absolute path of this machine's OS that no file in seen has; it adds
// the target to seen.
func (f File) CheckTarget(seen map[string]bool) error {
	return f.CheckTargetOn(goruntime.GOOS, seen)
}

// CheckTargetOn is CheckTarget for a node of OS goos: on Windows the
// target must be as api.WindowsPath maps it (the agent maps them with
// TargetOn), and two targets differing only in case are one file.
func (f File) CheckTargetOn(goos string, seen map[string]bool) error {
	key := f.Target
	if goos == "windows" {
		if p, err := api.WindowsPath(f.Target); err != nil || p != f.Target {
			return fmt.Errorf("%w: file target %q is not a clean absolute Windows path", ErrRejected, f.Target)
		}
		key = strings.ToLower(f.Target)
	} else if !path.IsAbs(f.Target) || path.Clean(f.Target) != f.Target || f.Target == "/" {
		return fmt.Errorf("%w: file target %q is not a clean absolute path", ErrRejected, f.Target)
	}
	if seen[key] {
		return fmt.Errorf("%w: two files at %s", ErrRejected, f.Target)
	}
	seen[key] = true
	return nil
}

// FileOwnerID parses a file's numeric UID or GID; empty gives def.
func FileOwnerID(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("%q is not a numeric ID", s)
	}
	return int(n), nil
}

// WriteFile creates the new file p, readable by its creator only until
// it is given its owner and mode. An owner of -1 keeps the agent's. It
// writes by path: use it only in a folder no one else may change.
func WriteFile(p string, data []byte, uid, gid int, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = privdir.Fill(f, data, uid, gid, mode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
