package docker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/shoalproject/shoal/internal/privdir"
	"github.com/shoalproject/shoal/internal/runtime"
)

// taskFilesDir returns the folder of a task's files.
func (r *Runtime) taskFilesDir(id string) string { return filepath.Join(r.filesDir, id) }

// filesSub is the runtime's own folder in the node's files folder: the
// process runtime keeps its tasks' secrets in the node's folder too, so
// what is not a container's there is not this runtime's to delete.
const filesSub = "docker"

// openFilesDir opens the runtime's files folder, FilesDir/<NodeID>/docker,
// making each level (0700) if missing and checking that it is ours and
// closed to others (see privdir): it fails when one is not. A folder that
// can't be made (no /dev/shm) or is not on tmpfs is no reason to fail:
// r.filesErr or r.secretsErr then say why tasks with files or secrets are
// rejected.
func (r *Runtime) openFilesDir(root string) error {
	var unsafe *privdir.UnsafeError
	dir, err := privdir.Open(root)
	for _, name := range []string{r.nodeID, filesSub} {
		if err != nil {
			break
		}
		var sub *privdir.Dir
		sub, err = dir.Sub(name)
		dir.Close()
		dir = sub
	}
	switch {
	case errors.As(err, &unsafe):
		return fmt.Errorf("task files folder: %w", err)
	case err != nil:
		r.filesErr = fmt.Errorf("task files folder: %w", err)
		r.log.Warn("tasks with configs or secrets cannot run", "err", r.filesErr)
		return nil
	}
	r.files = dir
	tmpfs, err := dir.IsTmpfs()
	if err != nil {
		return fmt.Errorf("task files folder: %w", err)
	}
	if !tmpfs {
		r.secretsErr = fmt.Errorf("task files folder %s is not on tmpfs: secrets would be written to disk", r.filesDir)
		r.log.Warn("tasks with secrets cannot run", "err", r.secretsErr)
	}
	return nil
}

// writeFiles writes the task's configs and secrets to its folder under the
// node's (memory-backed) files folder, owned and with the modes asked, and
// returns the read-only bind mounts that put each at its target. They are
// written relative to the folders the runtime opened, never through a
// path that a folder renamed on the way could redirect.
func (r *Runtime) writeFiles(id string, files []runtime.File) ([]mount.Mount, error) {
	if len(files) == 0 {
		return nil, nil
	}
	if r.filesErr != nil {
		return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, r.filesErr)
	}
	type owner struct{ uid, gid int }
	owners := make([]owner, len(files))
	targets := map[string]bool{}
	for i, f := range files {
		if f.Secret && r.secretsErr != nil {
			return nil, fmt.Errorf("%w: %w", runtime.ErrRejected, r.secretsErr)
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

	// A folder left by a start that did not finish.
	if err := r.files.RemoveAll(id); err != nil {
		return nil, fmt.Errorf("task files: %w", err)
	}
	dir, err := r.files.Mkdir(id)
	if err != nil {
		return nil, fmt.Errorf("task files: %w", err)
	}
	defer dir.Close()
	var mounts []mount.Mount
	for i, f := range files {
		name := strconv.Itoa(i)
		if err := dir.WriteFile(name, f.Data, owners[i].uid, owners[i].gid, f.Perm()); err != nil {
			r.removeFiles(id)
			return nil, fmt.Errorf("task file %s: %w", f.Target, err)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: filepath.Join(dir.Path(), name), Target: f.Target, ReadOnly: true})
	}
	return mounts, nil
}

// releaseFiles deletes the files of a task that has ended. After Close the
// folder is closed: they are then deleted with the task, or as leftovers
// by the next Runtime.
func (r *Runtime) releaseFiles(id string) {
	if r.isClosed() {
		return
	}
	r.removeFiles(id)
}

// removeFiles deletes a task's files.
func (r *Runtime) removeFiles(id string) {
	if r.files == nil || checkID(id) != nil {
		return
	}
	if err := r.files.RemoveAll(id); err != nil {
		r.log.Warn("remove task files", "task", id, "err", err)
	}
}

// removeLeftoverFiles deletes the files of tasks whose container is gone
// (removed while no agent ran).
func (r *Runtime) removeLeftoverFiles(ctx context.Context) error {
	if r.files == nil {
		return nil
	}
	names, err := r.files.Names()
	if err != nil || len(names) == 0 {
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
	for _, name := range names {
		if live[name] {
			continue
		}
		if err := r.files.RemoveAll(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
