package process

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// A task's output caps: 10 MiB × 3 files per stream, as docker's
// json-file driver with max-size=10m, max-file=3.
const (
	DefaultLogMaxSize = 10 << 20
	DefaultLogFiles   = 3
	// logCheckEvery is how often the output files' sizes are checked: a
	// task writing faster than LogMaxSize per period overshoots the cap
	// by what it writes in one.
	logCheckEvery = 2 * time.Second
)

type logCaps struct {
	maxSize int64
	files   int
}

// startRotation checks the tasks' output files every logCheckEvery until
// Close.
func (r *Runtime) startRotation(maxSize int64, files int) {
	if maxSize <= 0 {
		maxSize = DefaultLogMaxSize
	}
	if files <= 0 {
		files = DefaultLogFiles
	}
	r.logs = logCaps{maxSize: maxSize, files: files}
	r.watchers.Add(1)
	go func() {
		defer r.watchers.Done()
		tick := time.NewTicker(logCheckEvery)
		defer tick.Stop()
		for {
			select {
			case <-r.closed:
				return
			case <-tick.C:
				_ = r.RotateLogs()
			}
		}
	}()
}

// RotateLogs rotates the output files of every task that grew past the
// cap. The task's process holds its files open in append mode and keeps
// them across agent restarts, so a file is copied, then truncated
// (logrotate's copytruncate): the process writes on at the new end, and
// what it writes between the copy and the truncation is lost.
func (r *Runtime) RotateLogs() error {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return fmt.Errorf("rotate logs: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || checkTaskID(e.Name()) != nil {
			continue
		}
		for _, name := range []string{stdoutFile, stderrFile} {
			if err := rotateFile(filepath.Join(r.root, e.Name(), name), r.logs.maxSize, r.logs.files); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// rotateFile shifts path.1 … path.(files-2) up by one, copies path to
// path.1 and truncates path, when path is over maxSize.
func rotateFile(path string, maxSize int64, files int) error {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() <= maxSize {
		return err
	}
	if files < 2 {
		return f.Truncate(0)
	}
	_ = os.Remove(path + "." + strconv.Itoa(files-1))
	for i := files - 2; i >= 1; i-- {
		if err := os.Rename(path+"."+strconv.Itoa(i), path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate %s: %w", path, err)
		}
	}
	dst, err := os.OpenFile(path+".1", os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	_, err = io.Copy(dst, f)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	return nil
}
