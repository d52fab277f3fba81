package process

import (
	"errors"
	"fmt"

	"github.com/shoalproject/shoal/internal/privdir"
	"github.com/shoalproject/shoal/internal/runtime"
)

// The secrets root and the nodes' folders in it.
//
// Open opens the root (and the node's folder, when it knows the node) and
// keeps them open: each must be a real folder, ours, and closed to others
// (see privdir), and Open fails when one is not, since another user who
// made or can change them could read every secret written below. A root
// that cannot be made at all (no /dev/shm) or is not on tmpfs is no reason
// to stop the node: tasks with secrets are then rejected, saying why.

// openSecrets opens and checks the secrets root and, when node is set,
// the node's folder in it.
func (r *Runtime) openSecrets(node string) error {
	root, err := privdir.Open(r.secretsPath)
	var unsafe *privdir.UnsafeError
	switch {
	case errors.As(err, &unsafe):
		return fmt.Errorf("secrets folder: %w", err)
	case err != nil:
		r.secretsErr = fmt.Errorf("secrets folder: %w", err)
		return nil
	}
	r.secretsRoot = root
	tmpfs, err := root.IsTmpfs()
	if err != nil {
		return fmt.Errorf("secrets folder: %w", err)
	}
	if !tmpfs {
		r.secretsErr = fmt.Errorf("secrets folder %s is not on tmpfs: the task's secrets would be written to disk", r.secretsPath)
		return nil
	}
	if node != "" {
		if _, err := r.nodeSecretsDir(node); err != nil {
			return fmt.Errorf("secrets folder: %w", err)
		}
	}
	return nil
}

// nodeSecretsDir returns the open folder of the node's secrets, opening
// (and checking) it the first time; node "" is "local".
func (r *Runtime) nodeSecretsDir(node string) (*privdir.Dir, error) {
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	if r.secretsClosed {
		return nil, ErrClosed
	}
	return r.nodeSecretsDirLocked(node)
}

func (r *Runtime) nodeSecretsDirLocked(node string) (*privdir.Dir, error) {
	if node == "" {
		node = "local"
	}
	if checkTaskID(node) != nil {
		return nil, fmt.Errorf("%w: invalid node ID %q", runtime.ErrRejected, node)
	}
	if r.secretsErr != nil {
		return nil, r.secretsErr
	}
	if d := r.nodeDirs[node]; d != nil {
		return d, nil
	}
	d, err := r.secretsRoot.Sub(node)
	if err != nil {
		return nil, err
	}
	r.nodeDirs[node] = d
	return d, nil
}

// letThroughSecrets gives others the search (x) permission on the secrets
// root and the node's folder, so that a task running as another user
// reaches its own secrets folder (0700, its own) below them. They may
// still neither list nor change either.
func (r *Runtime) letThroughSecrets(node string) error {
	nodeDir, err := r.nodeSecretsDir(node)
	if err != nil {
		return err
	}
	if err := r.secretsRoot.AllowSearch(); err != nil {
		return err
	}
	return nodeDir.AllowSearch()
}

// closeSecrets releases the secrets folders, and deletes the nodes'
// folders that hold no task's.
func (r *Runtime) closeSecrets() {
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	r.secretsClosed = true
	for node, d := range r.nodeDirs {
		d.Close()
		// Made at start: not left behind on tmpfs when no task used it.
		_ = r.secretsRoot.RemoveEmpty(node)
	}
	r.secretsRoot.Close()
}
