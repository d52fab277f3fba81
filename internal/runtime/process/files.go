package process

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/shoalproject/shoal/internal/privdir"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Configs and secrets of process tasks.
//
// A host process has no filesystem of its own, so a task's files cannot be
// at their targets. They are under the task's folder instead, at
// root/<taskID>/files/<target> (a config at /etc/app.yml is at
// files/etc/app.yml, a secret at /run/secrets/db at files/run/secrets/db),
// and the task finds the folder in $SHOAL_FILES. Secrets never touch the
// disk: their data is written to a folder on tmpfs, by default
// /dev/shm/shoal/<node>/<taskID> (mode 0700, given to the task's user once
// written), and files/<target> is a symbolic link to it. The secrets are
// written relative to the folders the runtime opened and checked (see
// secrets.go), never through a path. Configs and secrets are deleted when
// the task exits (or, if it exited while no agent ran, when the runtime
// finds it so), the rest with the task's folder.
//
// The task folder itself is written by path: it is below the task root,
// which Open checks no one else may change, and the task's user owns only
// its work folder.

// DefaultSecretsRoot is where the secrets of process tasks are written: it
// must be on tmpfs.
const DefaultSecretsRoot = "/dev/shm/shoal"

const (
	filesDir = "files"
	// secretsFile in a task's folder records where its secrets are.
	secretsFile = "secrets.path"
	// filesEnv names the files folder in the task's environment.
	filesEnv = "SHOAL_FILES"
)

// writeFiles writes spec's files under the task folder dir and returns the
// folder to put in $SHOAL_FILES ("" for a task without files). Files are
// owned by their UID and GID, numeric, else by the task's user (cred).
func (r *Runtime) writeFiles(spec runtime.TaskSpec, dir string, cred *syscall.Credential) (string, error) {
	if len(spec.Files) == 0 {
		return "", nil
	}
	type owner struct{ uid, gid int }
	owners := make([]owner, len(spec.Files))
	seen := map[string]bool{}
	hasSecrets := false
	for i, f := range spec.Files {
		if err := f.CheckTarget(seen); err != nil {
			return "", err
		}
		o := owner{-1, -1}
		if cred != nil {
			o = owner{int(cred.Uid), int(cred.Gid)}
		}
		var err error
		if o.uid, err = runtime.FileOwnerID(f.UID, o.uid); err != nil {
			return "", fmt.Errorf("%w: file %s: UID: %w", runtime.ErrRejected, f.Target, err)
		}
		if o.gid, err = runtime.FileOwnerID(f.GID, o.gid); err != nil {
			return "", fmt.Errorf("%w: file %s: GID: %w", runtime.ErrRejected, f.Target, err)
		}
		owners[i] = o
		hasSecrets = hasSecrets || f.Secret
	}

	var secrets *privdir.Dir
	if hasSecrets {
		var err error
		if secrets, err = r.makeSecretsDir(spec, dir); err != nil {
			return "", err
		}
		defer secrets.Close()
	}
	files := filepath.Join(dir, filesDir)
	if err := os.Mkdir(files, 0o755); err != nil {
		return "", fmt.Errorf("task files: %w", err)
	}
	for i, f := range spec.Files {
		p := filepath.Join(files, filepath.FromSlash(f.Target))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", fmt.Errorf("task file %s: %w", f.Target, err)
		}
		if !f.Secret {
			if err := runtime.WriteFile(p, f.Data, owners[i].uid, owners[i].gid, f.Perm()); err != nil {
				return "", fmt.Errorf("%w: task file %s: %w", runtime.ErrRejected, f.Target, err)
			}
			continue
		}
		name := strconv.Itoa(i)
		if err := secrets.WriteFile(name, f.Data, owners[i].uid, owners[i].gid, f.Perm()); err != nil {
			return "", fmt.Errorf("%w: task file %s: %w", runtime.ErrRejected, f.Target, err)
		}
		if err := os.Symlink(filepath.Join(secrets.Path(), name), p); err != nil {
			return "", fmt.Errorf("task file %s: %w", f.Target, err)
		}
	}
	if secrets != nil && cred != nil {
		// Given to the task's user only once written: until then no one
		// else may change the folder.
		if err := secrets.Chown(int(cred.Uid), int(cred.Gid)); err != nil {
			return "", fmt.Errorf("secrets folder: %w", err)
		}
		if err := r.letThroughSecrets(spec.NodeID); err != nil {
			return "", fmt.Errorf("secrets folder: %w", err)
		}
	}
	if cred != nil {
		// The task's user reaches its files through the task folder.
		if err := r.openDirs(dir); err != nil {
			return "", err
		}
	}
	return files, nil
}

// makeSecretsDir makes the task's secrets folder on tmpfs, 0700, records
// it in the task folder dir, and returns it open: the secrets are written
// relative to it, so that no folder renamed or swapped on the way can
// redirect them.
func (r *Runtime) makeSecretsDir(spec runtime.TaskSpec, dir string) (*privdir.Dir, error) {
	nodeDir, err := r.nodeSecretsDir(spec.NodeID)
	if err != nil {
		return nil, fmt.Errorf("%w: secrets folder: %w", runtime.ErrRejected, err)
	}
	// A folder left by a start that did not finish.
	if err := nodeDir.RemoveAll(spec.TaskID); err != nil {
		return nil, fmt.Errorf("secrets folder: %w", err)
	}
	secrets, err := nodeDir.Mkdir(spec.TaskID)
	if err != nil {
		return nil, fmt.Errorf("secrets folder: %w", err)
	}
	// Recorded first, so that whatever fails next, the folder is found
	// and deleted with the task.
	if err := os.WriteFile(filepath.Join(dir, secretsFile), []byte(secrets.Path()+"\n"), 0o600); err != nil {
		secrets.Close()
		_ = nodeDir.RemoveAll(spec.TaskID)
		return nil, fmt.Errorf("secrets folder: %w", err)
	}
	return secrets, nil
}

// releaseFiles deletes the configs and secrets of the task whose folder is
// dir, once it has ended: its secrets folder, and the files folder (the
// configs, and the links to the secrets). Its logs stay with the folder.
func (r *Runtime) releaseFiles(dir string) {
	r.removeSecrets(dir)
	_ = os.RemoveAll(filepath.Join(dir, filesDir))
}

// removeSecrets deletes the secrets folder that the task folder dir
// records, if any. Only a task's folder in a node's folder of this
// runtime's secrets root is deleted, whatever the record says.
func (r *Runtime) removeSecrets(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, secretsFile))
	if err != nil {
		return
	}
	rel, err := filepath.Rel(r.secretsPath, filepath.Clean(strings.TrimSpace(string(b))))
	if err != nil {
		return
	}
	node, task, ok := strings.Cut(rel, string(filepath.Separator))
	if !ok || checkTaskID(node) != nil || checkTaskID(task) != nil {
		return
	}
	r.secretsMu.Lock()
	defer r.secretsMu.Unlock()
	if r.secretsClosed {
		// A task that ended after Close: its folder waits for Remove.
		return
	}
	nodeDir, err := r.nodeSecretsDirLocked(node)
	if err == nil {
		_ = nodeDir.RemoveAll(task)
	}
}

// openDirs gives others the search (x) permission on the runtime's root
// and the task folder dir, so that a task running as another user can
// reach its files.
func (r *Runtime) openDirs(dir string) error {
	for _, d := range []string{r.root, dir} {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o111); err != nil {
			return err
		}
	}
	return nil
}
