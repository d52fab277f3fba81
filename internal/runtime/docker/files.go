package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/internal/runtime"
)

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
		if err := f.CheckTarget(targets); err != nil {
			return nil, err
		}
		// Names cannot be resolved: they are the image's, not the node's.
		uid, err := runtime.FileOwnerID(f.UID, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: file %s: UID: %w", runtime.ErrRejected, f.Target, err)
		}
		gid, err := runtime.FileOwnerID(f.GID, 0)
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
		if err := runtime.WriteFile(p, f.Data, owners[i].uid, owners[i].gid, f.Perm()); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("task file %s: %w", f.Target, err)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: p, Target: f.Target, ReadOnly: true})
	}
	return mounts, nil
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
