//go:build !windows

package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lock takes f's exclusive lock without waiting; busy says another
// process holds it.
func lock(f *os.File) (busy bool, err error) {
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	return errors.Is(err, unix.EWOULDBLOCK), err
}

// mkdirPrivate makes the folder path, mode 0700.
func mkdirPrivate(path string) error { return os.Mkdir(path, 0o700) }

// checkOwned fails unless path is a folder (not a link to one) that is
// this user's and that no one else may write: it holds the Raft log, the
// secrets' key and the API socket, so a folder another user may fill or
// swap is refused, not trusted.
func checkOwned(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("data folder %s is not a folder (a symbolic link or a file): pass a real folder with --data-dir", path)
	}
	if err != nil {
		return fmt.Errorf("open data folder %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat data folder %s: %w", path, err)
	}
	if euid := os.Geteuid(); int(st.Uid) != euid || st.Mode&0o022 != 0 {
		return fmt.Errorf("data folder %s is owned by uid %d with mode %04o: another user could change what shoal keeps there; "+
			"make it this user's (uid %d) and writable by no one else (chmod go-w %s), or pass another --data-dir",
			path, st.Uid, st.Mode&0o7777, euid, path)
	}
	return nil
}

// checkAncestors fails unless every folder above path that exists is
// root's or this user's and writable by no one else, unless it is sticky
// (as /tmp): whoever may rename entries of one of them could swap the
// data folder for one of theirs while shoal runs, and shoal's next open
// of a file in it by name would land there. The folders still missing
// are made by this user, 0700.
func checkAncestors(path string) error {
	dir := filepath.Dir(path)
	for {
		if _, err := os.Lstat(dir); err == nil || dir == filepath.Dir(dir) {
			break
		}
		dir = filepath.Dir(dir)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("data folder %s: %w", path, err)
	}
	euid := os.Geteuid()
	for p := real; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return fmt.Errorf("data folder %s: stat %s: %w", path, p, err)
		}
		if (st.Uid != 0 && int(st.Uid) != euid) || (st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0) {
			return fmt.Errorf("%s, a folder above data folder %s, is owned by uid %d with mode %04o: another user could swap the data folder for one of theirs; "+
				"pass a --data-dir whose folders above it only root and this user may change (or are sticky, as /tmp)", p, path, st.Uid, st.Mode&0o7777)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
