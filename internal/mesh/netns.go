package mesh

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/shoalproject/shoal/internal/nsthread"
)

// NewNamespace makes a network namespace for a process task and returns its
// path, NamespaceDir/<taskID>: a bind mount that keeps the namespace alive
// with no process in it, as `ip netns add` does. The task's process joins
// it (setns) and Attach plumbs it. Making one that exists returns its path.
func (n *Node) NewNamespace(taskID string) (string, error) {
	if err := validID("task", taskID); err != nil {
		return "", err
	}
	if err := privateDir(n.cfg.NamespaceDir); err != nil {
		return "", fmt.Errorf("namespace of task %s: %w", taskID, err)
	}
	p := filepath.Join(n.cfg.NamespaceDir, taskID)
	if isNamespace(p) {
		return p, nil
	}
	if err := makeNamespace(p); err != nil {
		return "", fmt.Errorf("namespace of task %s: %w", taskID, err)
	}
	return p, nil
}

// DeleteNamespace removes the namespace NewNamespace made for a task. The
// namespace itself ends when no process is left in it. Deleting one that
// does not exist is not an error.
func (n *Node) DeleteNamespace(taskID string) error {
	if err := validID("task", taskID); err != nil {
		return err
	}
	if err := removeNamespace(filepath.Join(n.cfg.NamespaceDir, taskID)); err != nil {
		return fmt.Errorf("delete namespace of task %s: %w", taskID, err)
	}
	return nil
}

// namespaces returns the task IDs of the namespaces in NamespaceDir.
func (n *Node) namespaces() ([]string, error) {
	ents, err := os.ReadDir(n.cfg.NamespaceDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if validID("task", e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// privateDir makes dir (mode 0700) if it is missing, and checks that it is
// a directory of mode 0700 owned by this process's user: the namespaces in
// it let whoever opens them into a task's network.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok {
		return fmt.Errorf("%s is not a directory; remove it", dir)
	}
	if fi.Mode().Perm() != 0o700 || int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%s has mode %#o and owner uid %d; want mode 0700 and owner uid %d (chmod/chown it, or remove it)", dir, fi.Mode().Perm(), st.Uid, os.Geteuid())
	}
	return nil
}

// isNamespace reports whether p is a namespace file (an nsfs bind mount).
func isNamespace(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// makeNamespace makes a new network namespace and bind-mounts it on p, a
// new file. It unshares on a locked OS thread, which it switches back.
func makeNamespace(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	f.Close()
	err = nsthread.Run(func() error { return unix.Unshare(unix.CLONE_NEWNET) }, func() error {
		self := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
		if err := unix.Mount(self, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		os.Remove(p)
		return err
	}
	return nil
}

// removeNamespace unmounts and removes a namespace file made by
// makeNamespace. Removing the file matters: it also detaches the copies of
// the mount in other mount namespaces (a process task's), which would
// otherwise keep the network namespace alive. A missing file is not an
// error.
func removeNamespace(p string) error {
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
