package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/internal/runtime"
)

// defaultFileMode is the mode of a task file that sets none.
const defaultFileMode = 0o444

// taskFilesDir returns the folder of a task's files.
func (r *Runtime) taskFilesDir(id string) string { return filepath.Join(r.filesDir, id) }

// writeFiles writes the task's configs and secrets to its folder under the
// node's (memory-backed) files folder, owned and with the modes asked, and
// returns the read-only bind mounts that put each at its target.
func (r *Runtime) writeFiles(id string, files []runtime.File) ([]mount.Mount, error) {
	if len(files) == 0 {
		return nil, nil
	}
	secretsErr, err := r.prepareFilesDir()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, err)
	}
	type owner struct{ uid, gid int }
	owners := make([]owner, len(files))
	targets := map[string]bool{}
	for i, f := range files {
		if f.Secret && secretsErr != nil {
			return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, secretsErr)
		}
		if !path.IsAbs(f.Target) || path.Clean(f.Target) != f.Target || f.Target == "/" {
			return nil, fmt.Errorf("%w: file target %q is not a clean absolute path", runtime.ErrRejected, f.Target)
		}
		if targets[f.Target] {
			return nil, fmt.Errorf("%w: two files at %s", runtime.ErrRejected, f.Target)
		}
		targets[f.Target] = true
		uid, err := numericID(f.UID)
		if err != nil {
			return nil, fmt.Errorf("%w: file %s: UID: %w", runtime.ErrRejected, f.Target, err)
		}
		gid, err := numericID(f.GID)
		if err != nil {
			return nil, fmt.Errorf("%w: file %s: GID: %w", runtime.ErrRejected, f.Target, err)
		}
		owners[i] = owner{uid, gid}
	}

	dir := r.taskFilesDir(id)
	// A folder left by a start that did not finish.
	_ = os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("task files: %w", err)
	}
	var mounts []mount.Mount
	for i, f := range files {
		p := filepath.Join(dir, strconv.Itoa(i))
		mode := os.FileMode(f.Mode) & os.ModePerm
		if f.Mode == 0 {
			mode = defaultFileMode
		}
		if err := writeFile(p, f.Data, owners[i].uid, owners[i].gid, mode); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("task file %s: %w", f.Target, err)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: p, Target: f.Target, ReadOnly: true})
	}
	return mounts, nil
}

// writeFile creates a file readable by its creator only until it is given
// its owner and mode.
func writeFile(p string, data []byte, uid, gid int, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && (uid != os.Geteuid() || gid != os.Getegid()) {
		err = f.Chown(uid, gid)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// numericID parses a file's UID or GID; empty means 0. Names cannot be
// resolved: they are the image's, not the node's.
func numericID(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0, fmt.Errorf("%q is not a numeric ID", s)
	}
	return int(n), nil
}

// prepareFilesDir makes the node's files folder, 0700, once, and checks
// that it is on tmpfs: the first error says why it cannot hold secrets, the
// second why it cannot be used at all.
func (r *Runtime) prepareFilesDir() (secretsErr, err error) {
	r.filesMu.Lock()
	defer r.filesMu.Unlock()
	if r.filesReady {
		return r.secretsErr, nil
	}
	if err := os.MkdirAll(r.filesDir, 0o700); err != nil {
		return nil, fmt.Errorf("task files folder: %w", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(r.filesDir, &st); err != nil {
		return nil, fmt.Errorf("task files folder: %w", err)
	}
	if st.Type != tmpfsMagic {
		r.secretsErr = fmt.Errorf("task files folder %s is not on tmpfs: secrets would be written to disk", r.filesDir)
		r.log.Warn("tasks with secrets cannot run", "err", r.secretsErr)
	}
	r.filesReady = true
	return r.secretsErr, nil
}

// tmpfsMagic is tmpfs's statfs type.
const tmpfsMagic = 0x01021994

// removeFiles deletes a task's files.
func (r *Runtime) removeFiles(id string) {
	if err := os.RemoveAll(r.taskFilesDir(id)); err != nil {
		r.log.Warn("remove task files", "task", id, "err", err)
	}
}

// removeLeftoverFiles deletes the files of tasks whose container is gone
// (removed while no agent ran).
func (r *Runtime) removeLeftoverFiles(ctx context.Context) error {
	entries, err := os.ReadDir(r.filesDir)
	if errors.Is(err, os.ErrNotExist) || len(entries) == 0 {
		return nil
	}
	if err != nil {
		return err
	}
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", LabelNodeID+"="+r.nodeID),
	})
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, c := range res.Items {
		live[c.Labels[LabelTaskID]] = true
	}
	var errs []error
	for _, e := range entries {
		if live[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.filesDir, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
