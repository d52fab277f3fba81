package privdir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// rootDir is the Dir of the systems without the Linux one (Windows):
// an os.Root, which resolves every name inside the opened folder, so a
// link or a renamed folder cannot send a write or a removal outside it.
// It is built on every system so that its tests run on Linux.
type rootDir struct {
	// mu is held for reading while root is used, for writing to close it.
	mu   sync.RWMutex
	root *os.Root
	path string
	acl  *ACL
}

// ACL makes and checks folders where modes do not say who may use them
// (Windows: internal/winacl). Tests on Linux pass their own.
type ACL struct {
	// Mkdir makes the new folder at path, private from its first moment.
	Mkdir func(path string) error
	// Problem says who else may read or change the open folder f, and
	// ParentProblem who else may rename the entries of the open folder f;
	// "" when no one may.
	Problem, ParentProblem func(f *os.File) (string, error)
}

// openRoot is Open: the folder at path, made private (mode 0700, or acl's
// Mkdir) if it is missing. With acl its parent and it are checked: no one
// else may rename the parent's entries, nor read or change the folder.
// Without, nothing is: os.Root gives no owner to check.
func openRoot(path string, acl *ACL) (*rootDir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	parentPath, name := filepath.Split(abs)
	if name == "" {
		return nil, fmt.Errorf("%s: want a folder below the root of its volume", path)
	}
	root, err := os.OpenRoot(parentPath)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", parentPath, err)
	}
	parent := &rootDir{root: root, path: filepath.Clean(parentPath), acl: acl}
	defer parent.Close()
	if err := parent.checkACL(".", func(a *ACL) func(*os.File) (string, error) { return a.ParentProblem }); err != nil {
		var unsafe *UnsafeError
		if errors.As(err, &unsafe) {
			unsafe.Fix = "choose a folder whose parent only SYSTEM, Administrators and this user may rename entries of (as C:\\ProgramData)"
		}
		return nil, err
	}
	return parent.Sub(name)
}

// checkACL fails (an UnsafeError) when the ACL check that which picks
// finds someone else may use d's entry name ("." for d), or when it
// cannot tell. Without an ACL it checks nothing.
func (d *rootDir) checkACL(name string, which func(*ACL) func(*os.File) (string, error)) error {
	if d.acl == nil {
		return nil
	}
	p := filepath.Join(d.path, name)
	f, err := d.root.Open(name)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	problem, err := which(d.acl)(f)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if problem != "" {
		return unsafe(p, problem)
	}
	return nil
}

// mkdir makes the new folder name in d, private.
func (d *rootDir) mkdir(name string) error {
	if d.acl != nil {
		// By path: a parent swapped since d was opened gets the folder,
		// which the Lstat and the check through d's root then miss.
		return d.acl.Mkdir(filepath.Join(d.path, name))
	}
	return d.root.Mkdir(name, 0o700)
}

// use holds d open until the caller calls d.mu.RUnlock.
func (d *rootDir) use() error {
	d.mu.RLock()
	if d.root == nil {
		d.mu.RUnlock()
		return fmt.Errorf("%s: %w", d.path, ErrClosed)
	}
	return nil
}

// Sub opens the folder name in d, making it (mode 0700) if it is missing.
// It must be a real folder, not a symbolic link or a junction.
func (d *rootDir) Sub(name string) (*rootDir, error) { return d.openSub(name, false) }

// Mkdir makes the new folder name in d, mode 0700, and opens it. It fails
// if name exists.
func (d *rootDir) Mkdir(name string) (*rootDir, error) { return d.openSub(name, true) }

func (d *rootDir) openSub(name string, exclusive bool) (*rootDir, error) {
	if err := d.use(); err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := filepath.Join(d.path, name)
	err := d.mkdir(name)
	if err != nil && (exclusive || !errors.Is(err, fs.ErrExist)) {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	// os.Root follows a link that stays inside d, so refuse one here; one
	// put in place after this check is still confined to d.
	fi, err := d.root.Lstat(name)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", p, err)
	}
	switch {
	case fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0:
		// A Windows junction is irregular, not a link.
		return nil, unsafe(p, "is a symbolic link, not a folder")
	case !fi.IsDir():
		return nil, unsafe(p, "is not a folder")
	}
	if err := d.checkACL(name, func(a *ACL) func(*os.File) (string, error) { return a.Problem }); err != nil {
		return nil, err
	}
	sub, err := d.root.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	return &rootDir{root: sub, path: p, acl: d.acl}, nil
}

// WriteFile creates the new file name in d with data, readable by this
// user only until it is given its owner and mode. An owner of -1 keeps
// this user's.
func (d *rootDir) WriteFile(name string, data []byte, uid, gid int, mode os.FileMode) error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	if err := checkName(name); err != nil {
		return err
	}
	p := filepath.Join(d.path, name)
	// O_EXCL: a link in name's place is refused, not followed.
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	err = Fill(f, data, uid, gid, mode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// errNoOwners is Chown's answer off Linux, where the agent gives files to
// no other user.
var errNoOwners = fmt.Errorf("giving a folder to another user: %w", errors.ErrUnsupported)

// Chown gives d to uid and gid; off Linux only -1 (keep) is accepted.
func (d *rootDir) Chown(uid, gid int) error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	if uid != -1 || gid != -1 {
		return fmt.Errorf("%s: %w", d.path, errNoOwners)
	}
	return nil
}

// AllowSearch does nothing: without modes there is no search permission
// to add (on Windows the parent's ACL decides).
func (d *rootDir) AllowSearch() error {
	if err := d.use(); err != nil {
		return err
	}
	d.mu.RUnlock()
	return nil
}

// Names lists d's entries.
func (d *rootDir) Names() ([]string, error) {
	if err := d.use(); err != nil {
		return nil, err
	}
	defer d.mu.RUnlock()
	f, err := d.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d.path, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("list %s: %w", d.path, err)
	}
	return names, nil
}

// RemoveAll deletes name from d, and everything below it if it is a
// folder, never following a symbolic link. A missing name is no error.
func (d *rootDir) RemoveAll(name string) error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	if err := checkName(name); err != nil {
		return err
	}
	if err := d.root.RemoveAll(name); err != nil {
		return fmt.Errorf("remove %s: %w", filepath.Join(d.path, name), err)
	}
	return nil
}

// RemoveEmpty deletes the folder name from d if it is empty; a folder
// that is not, or is missing, is no error.
func (d *rootDir) RemoveEmpty(name string) error {
	if err := d.use(); err != nil {
		return err
	}
	defer d.mu.RUnlock()
	if err := checkName(name); err != nil {
		return err
	}
	fi, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", filepath.Join(d.path, name), err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("remove %s: not a folder", filepath.Join(d.path, name))
	}
	// A folder that is not empty cannot be removed; its error differs by
	// system, so ask whether it still has entries.
	err = d.root.Remove(name)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if sub, serr := d.root.Open(name); serr == nil {
		names, _ := sub.Readdirnames(1)
		sub.Close()
		if len(names) > 0 {
			return nil
		}
	}
	return fmt.Errorf("remove %s: %w", filepath.Join(d.path, name), err)
}

// IsTmpfs is false: off Linux no folder is known to stay in memory.
func (d *rootDir) IsTmpfs() (bool, error) {
	if err := d.use(); err != nil {
		return false, err
	}
	d.mu.RUnlock()
	return false, nil
}

// Path is the folder's path when it was opened.
func (d *rootDir) Path() string { return d.path }

// Close releases the folder.
func (d *rootDir) Close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.root == nil {
		return nil
	}
	err := d.root.Close()
	d.root = nil
	return err
}
