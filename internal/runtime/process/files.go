package process

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

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
// /dev/shm/shoal/<node>/<taskID> (mode 0700), and files/<target> is a
// symbolic link to it. The secrets are deleted when the task exits, and
// the rest with the task's folder.

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

// tmpfsMagic is tmpfs's statfs type.
const tmpfsMagic = 0x01021994

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

	var secrets string
	if hasSecrets {
		var err error
		if secrets, err = r.makeSecretsDir(spec, dir, cred); err != nil {
			return "", err
		}
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
		dst := p
		if f.Secret {
			dst = filepath.Join(secrets, strconv.Itoa(i))
		}
		if err := runtime.WriteFile(dst, f.Data, owners[i].uid, owners[i].gid, f.Perm()); err != nil {
			return "", fmt.Errorf("%w: task file %s: %w", runtime.ErrRejected, f.Target, err)
		}
		if f.Secret {
			if err := os.Symlink(dst, p); err != nil {
				return "", fmt.Errorf("task file %s: %w", f.Target, err)
			}
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

// makeSecretsDir makes the task's secrets folder on tmpfs, 0700 and owned
// by the task's user, and records it in the task folder dir.
func (r *Runtime) makeSecretsDir(spec runtime.TaskSpec, dir string, cred *syscall.Credential) (string, error) {
	node := spec.NodeID
	if node == "" {
		node = "local"
	}
	if checkTaskID(node) != nil {
		return "", fmt.Errorf("%w: invalid node ID %q", runtime.ErrRejected, node)
	}
	nodeDir := filepath.Join(r.secretsRoot(), node)
	if err := os.MkdirAll(nodeDir, 0o700); err != nil {
		return "", fmt.Errorf("%w: secrets folder: %w", runtime.ErrRejected, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(nodeDir, &st); err != nil {
		return "", fmt.Errorf("%w: secrets folder: %w", runtime.ErrRejected, err)
	}
	if st.Type != tmpfsMagic {
		return "", fmt.Errorf("%w: secrets folder %s is not on tmpfs: the task's secrets would be written to disk", runtime.ErrRejected, nodeDir)
	}
	secrets := filepath.Join(nodeDir, spec.TaskID)
	// A folder left by a start that did not finish.
	_ = os.RemoveAll(secrets)
	if err := os.Mkdir(secrets, 0o700); err != nil {
		return "", fmt.Errorf("secrets folder: %w", err)
	}
	// Recorded first, so that whatever fails next, the folder is found
	// and deleted with the task.
	if err := os.WriteFile(filepath.Join(dir, secretsFile), []byte(secrets+"\n"), 0o600); err != nil {
		_ = os.RemoveAll(secrets)
		return "", fmt.Errorf("secrets folder: %w", err)
	}
	if cred != nil {
		if err := os.Chown(secrets, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", fmt.Errorf("secrets folder: %w", err)
		}
	}
	return secrets, nil
}

// secretsRoot is where the runtime writes secrets.
func (r *Runtime) secretsRoot() string {
	if r.SecretsRoot != "" {
		return r.SecretsRoot
	}
	return DefaultSecretsRoot
}

// removeSecrets deletes the secrets folder that the task folder dir
// records, if any. Only a folder of this runtime's secrets root is
// deleted, whatever the record says.
func (r *Runtime) removeSecrets(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, secretsFile))
	if err != nil {
		return
	}
	p := filepath.Clean(strings.TrimSpace(string(b)))
	rel, err := filepath.Rel(r.secretsRoot(), p)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") || strings.Count(rel, string(filepath.Separator)) != 1 {
		return
	}
	_ = os.RemoveAll(p)
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
