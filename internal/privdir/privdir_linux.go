//go:build linux

package privdir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Dir is an open private folder. Its methods are safe for concurrent
// use, Close included: after Close they fail with ErrClosed.
type Dir struct {
	// mu is held for reading while fd is used, for writing to close it.
	mu   sync.RWMutex
	fd   int
	path string
}

// use holds d open until the caller calls d.mu.RUnlock.
func (d *Dir) use() error {
	d.mu.RLock()
	if d.fd < 0 {
		d.mu.RUnlock()
		return fmt.Errorf("%s: %w", d.path, ErrClosed)
	}
	return nil
}

// openFlags open a folder without following a link in its place.
const openFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// Open opens the folder at path, making it (mode 0700) if it is missing,
// and checks it as Sub does. Its parent must exist, be owned by root or
// this user, and be writable by no one else unless it is sticky (as
// /dev/shm and /tmp are): otherwise the folder could be renamed away and
// another put in its place.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	parentPath, name := filepath.Split(abs)
	if name == "" {
		return nil, fmt.Errorf("%s: want a folder below /", path)
	}
	pfd, err := unix.Open(parentPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", parentPath, err)
	}
	parent := &Dir{fd: pfd, path: filepath.Clean(parentPath)}
	defer parent.Close()
	if err := parent.checkParent(); err != nil {
		return nil, err
	}
	return parent.Sub(name)
}

// Sub opens the folder name in d, making it (mode 0700) if it is missing.
// It must be a real folder (not a symbolic link), owned by this process's
// effective user, and open to no one else, except that group and others
// may have the search permission (x) that lets a task's user through.
func (d *Dir) Sub(name string) (*Dir, error) { return d.openSub(name, false) }

// Mkdir makes the new folder name in d, mode 0700, and opens it, checked
// as Sub does. It fails if name exists.
func (d *Dir) Mkdir(name string) (*Dir, error) { return d.openSub(name, true) }

// openSub is Sub, or Mkdir when exclusive.
func (d *Dir) openSub(name string, exclusive bool) (*Dir, error) {
	if err := d.use(); err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := filepath.Join(d.path, name)
	err := unix.Mkdirat(d.fd, name, 0o700)
	if err != nil && (exclusive || !errors.Is(err, unix.EEXIST)) {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	fd, err := unix.Openat(d.fd, name, openFlags, 0)
	switch {
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		// Linux answers ENOTDIR for a link with O_DIRECTORY|O_NOFOLLOW.
		var st unix.Stat_t
		if unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, unsafe(p, "is a symbolic link, not a folder")
		}
		return nil, unsafe(p, "is not a folder")
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	sub := &Dir{fd: fd, path: p}
	if err := sub.checkPrivate(); err != nil {
		sub.Close()
		return nil, err
	}
	return sub, nil
}

// WriteFile creates the new file name in d with data, readable by this
// user only until it is given its owner and mode. An owner of -1 keeps
// this user's.
func (d *Dir) WriteFile(name string, data []byte, uid, gid int, mode os.FileMode) error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	if err := checkName(name); err != nil {
		return err
	}
	p := filepath.Join(d.path, name)
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	err = Fill(f, data, uid, gid, mode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Chown gives d to uid and gid.
func (d *Dir) Chown(uid, gid int) error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	if err := unix.Fchown(d.fd, uid, gid); err != nil {
		return fmt.Errorf("set owner of %s: %w", d.path, err)
	}
	return nil
}

// AllowSearch adds the search permission (x) for group and others to d,
// so that a task running as another user can reach a folder of its own
// below it.
func (d *Dir) AllowSearch() error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", d.path, err)
	}
	if err := unix.Fchmod(d.fd, st.Mode&0o7777|0o011); err != nil {
		return fmt.Errorf("chmod %s: %w", d.path, err)
	}
	return nil
}

// Names lists d's entries.
func (d *Dir) Names() ([]string, error) {
	if err := d.use(); err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	// A second descriptor, so that reading moves no offset of d's.
	fd, err := unix.Openat(d.fd, ".", openFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.path, err)
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	return names, nil
}

// RemoveAll deletes name from d, and everything below it if it is a
// folder, never following a symbolic link (a link is deleted, not what it
// points to). A missing name is no error.
func (d *Dir) RemoveAll(name string) error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	if err := checkName(name); err != nil {
		return err
	}
	err := unix.Unlinkat(d.fd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("remove %s: %w", filepath.Join(d.path, name), err)
	}
	fd, err := unix.Openat(d.fd, name, openFlags, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("open %s: %w", filepath.Join(d.path, name), err)
	}
	sub := &Dir{fd: fd, path: filepath.Join(d.path, name)}
	names, err := sub.Names()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, n := range names {
		if err := sub.RemoveAll(n); err != nil {
			errs = append(errs, err)
		}
	}
	sub.Close()
	if err := unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("remove %s: %w", sub.path, err))
	}
	return errors.Join(errs...)
}

// RemoveEmpty deletes the folder name from d if it is empty; a folder
// that is not, or is missing, is no error.
func (d *Dir) RemoveEmpty(name string) error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	if err := checkName(name); err != nil {
		return err
	}
	err := unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
	if err == nil || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("remove %s: %w", filepath.Join(d.path, name), err)
}

// IsTmpfs reports whether d is on a tmpfs (memory, never the disk).
func (d *Dir) IsTmpfs() (bool, error) {
	if err := d.use(); err != nil {
		return false, err
	}
	defer d.mu.RUnlock()
	var st unix.Statfs_t
	if err := unix.Fstatfs(d.fd, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", d.path, err)
	}
	return st.Type == unix.TMPFS_MAGIC, nil
}

// Path is the folder's path when it was opened.
func (d *Dir) Path() string { return d.path }

// Close releases the folder's descriptor.
func (d *Dir) Close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// checkPrivate fails unless d is ours and open to no one else but for
// search.
func (d *Dir) checkPrivate() error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", d.path, err)
	}
	euid := os.Geteuid()
	switch {
	case int(st.Uid) != euid:
		return unsafe(d.path, fmt.Sprintf("is owned by uid %d with mode %04o, not by this user (uid %d) with mode 0700",
			st.Uid, st.Mode&0o7777, euid))
	case st.Mode&0o066 != 0:
		return unsafe(d.path, fmt.Sprintf("has mode %04o, not 0700, open to other users", st.Mode&0o7777))
	}
	return nil
}

// checkParent fails unless no one but root and us may rename d's entries.
func (d *Dir) checkParent() error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", d.path, err)
	}
	ownerOK := st.Uid == 0 || int(st.Uid) == os.Geteuid()
	if !ownerOK || (st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0) {
		return &UnsafeError{Path: d.path, Problem: fmt.Sprintf("is owned by uid %d with mode %04o, so its entries may be renamed by another user", st.Uid, st.Mode&0o7777),
			Fix: "choose a folder whose parent only root and this user may change (or that is sticky, as /dev/shm)"}
	}
	return nil
}
