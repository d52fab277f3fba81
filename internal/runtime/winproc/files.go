package winproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shoalproject/shoal/internal/privdir"
	"github.com/shoalproject/shoal/internal/runtime"
)

// Configs and secrets of Windows process tasks.
//
// A host process has no filesystem of its own, so a task's files cannot
// be at their targets: they are under the task's folder, at
// <task>\files\<drive>\<path> (C:\web-app\configs\config.json is at
// files\C\web-app\configs\config.json), and the task finds the folder in
// %SHOAL_FILES%, as on Linux. Targets follow Swarm's rules on Windows: the
// agent maps them (api.ConfigReference.TargetOn: a relative one under
// C:\ProgramData\Docker\configs or ...\secrets), and one that is not a
// clean absolute Windows path (api.WindowsPath) is refused here too.
//
// Every file and folder is made relative to the task's folder as opened
// and checked by privdir (os.Root on Windows, whose ACL check refuses a
// folder anyone but SYSTEM, Administrators and the agent's user may read
// or change), never through a path. They inherit that folder's protected
// DACL (internal/winacl: the data folder's entries), so they are readable
// by the agent's user, whom the task runs as, and no one else. Windows has
// no tmpfs: secrets are on the disk while the task runs, as Docker's are
// on Windows, and deleted with the configs when it exits. A file's UID
// and GID mean nothing on Windows and are ignored, as Docker does; its
// mode only sets the read-only attribute (no write bit for the owner).

const (
	filesDir = "files"
	// filesEnv names the files folder in the task's environment.
	filesEnv = "SHOAL_FILES"
)

// targetPath is where the file target (a Windows path as api.WindowsPath
// maps it) is below a task's files folder: its drive letter, then its
// folders. It fails (ErrRejected) for any other target, or one already in
// seen (case-insensitive), and adds it to seen.
func targetPath(f runtime.File, seen map[string]bool) ([]string, error) {
	if err := f.CheckTargetOn("windows", seen); err != nil {
		return nil, err
	}
	// C:\a\b: CheckTargetOn made sure of the drive and of clean elements.
	return append([]string{f.Target[:1]}, strings.Split(f.Target[3:], `\`)...), nil
}

// writeFiles writes spec's files below the task folder dir and returns the
// folder for %SHOAL_FILES% ("" for a task without files).
func writeFiles(dir string, files []runtime.File) (string, error) {
	if len(files) == 0 {
		return "", nil
	}
	seen := map[string]bool{}
	paths := make([][]string, len(files))
	for i, f := range files {
		p, err := targetPath(f, seen)
		if err != nil {
			return "", err
		}
		paths[i] = p
	}
	task, err := privdir.Open(dir)
	if err != nil {
		return "", fmt.Errorf("task folder: %w", err)
	}
	defer task.Close()
	top, err := task.Mkdir(filesDir)
	if err != nil {
		return "", fmt.Errorf("task files: %w", err)
	}
	defer top.Close()
	for i, f := range files {
		if err := writeFile(top, paths[i], f); err != nil {
			return "", fmt.Errorf("%w: task file %s: %w", runtime.ErrRejected, f.Target, err)
		}
	}
	return filepath.Join(dir, filesDir), nil
}

// writeFile writes f at path below top, making its folders, each opened
// relative to the one above it.
func writeFile(top *privdir.Dir, path []string, f runtime.File) error {
	d := top
	for _, name := range path[:len(path)-1] {
		sub, err := d.Sub(name)
		if d != top {
			d.Close()
		}
		if err != nil {
			return err
		}
		d = sub
	}
	if d != top {
		defer d.Close()
	}
	return d.WriteFile(path[len(path)-1], f.Data, -1, -1, f.Perm())
}

// releaseFiles deletes the task's configs and secrets once it has ended;
// its logs stay with the folder.
func releaseFiles(dir string) error {
	task, err := privdir.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the task's files: %w", err)
	}
	defer task.Close()
	if err := task.RemoveAll(filesDir); err != nil {
		return fmt.Errorf("delete the task's files: %w", err)
	}
	return nil
}
