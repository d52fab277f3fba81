// Package filewatch tells a daemon when files it read may have
// changed, so that it reads them again. It watches the files' folders,
// not the files (fsnotify): an editor that writes a new file and renames
// it into place, or a Kubernetes volume that swaps a symbolic link to a
// new folder, replaces the file a watch on it would follow. The folders
// of the links' targets are watched too. Any change in a watched folder
// counts: the caller reads its files again and compares, which is cheap
// for small files and never misses a swap of a link it did not name.
// A burst of changes is reported once, after the folders have been
// quiet for a while (a timer, reset by each change), or once it has
// lasted maxWait such delays: a folder another file of which is written
// all the time (a log) still has its changes read.
package filewatch

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// maxWait bounds, in debounce delays, how long a burst that never goes
// quiet holds its report back.
const maxWait = 10

// Watcher watches the folders of a set of files.
type Watcher struct {
	fs       *fsnotify.Watcher
	debounce time.Duration
	log      *slog.Logger

	mu   sync.Mutex
	dirs map[string]bool // watched
}

// New returns a watcher that reports changes once its folders have been
// quiet for debounce. Run must be called to release it.
func New(debounce time.Duration, log *slog.Logger) (*Watcher, error) {
	fs, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{fs: fs, debounce: debounce, log: log, dirs: map[string]bool{}}, nil
}

// Watch makes the watched folders those of paths and of their links'
// targets, adding and dropping watches as needed. A folder that cannot
// be watched (it does not exist, or no longer) is logged and tried
// again at the next Watch.
func (w *Watcher) Watch(paths []string) {
	want := map[string]bool{}
	for _, p := range paths {
		for _, d := range Dirs(p) {
			want[d] = true
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.dirs {
		if !want[d] {
			_ = w.fs.Remove(d) // may be gone already
			delete(w.dirs, d)
		}
	}
	// Added again each time (a no-op for a folder still watched): one
	// removed, whose watch the kernel dropped, is watched again once it
	// is back.
	for d := range want {
		if err := w.fs.Add(d); err != nil {
			delete(w.dirs, d)
			w.log.Warn("cannot watch a folder for changes; send SIGHUP to reload", "folder", d, "err", err)
			continue
		}
		w.dirs[d] = true
	}
}

// Dirs are the folders whose changes can change what path reads: its
// own, and, when it goes through symbolic links, its target's.
func Dirs(path string) []string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	out := []string{filepath.Dir(abs)}
	if real, err := filepath.EvalSymlinks(abs); err == nil && filepath.Dir(real) != out[0] {
		out = append(out, filepath.Dir(real))
	}
	return out
}

// Run calls changed(false) once the folders have been quiet for the
// debounce delay after a change, and changed(true) at once for each
// value of kick (SIGHUP), until ctx ends; then it releases the
// watcher and returns nil. changed runs on Run's goroutine and may call
// Watch.
func (w *Watcher) Run(ctx context.Context, kick <-chan struct{}, changed func(asked bool)) error {
	defer w.fs.Close()
	// quiet fires debounce after the last change, longest maxWait
	// delays after the first one of the burst.
	quiet, longest := time.NewTimer(w.debounce), time.NewTimer(maxWait*w.debounce)
	quiet.Stop()
	longest.Stop()
	defer quiet.Stop()
	defer longest.Stop()
	burst := false
	report := func(asked bool) {
		quiet.Stop()
		longest.Stop()
		burst = false
		changed(asked)
	}
	change := func() {
		quiet.Reset(w.debounce)
		if !burst {
			burst = true
			longest.Reset(maxWait * w.debounce)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
			report(true)
		case _, ok := <-w.fs.Events:
			if !ok {
				return errors.New("filewatch: the watcher closed")
			}
			change()
		case err, ok := <-w.fs.Errors:
			if !ok {
				return errors.New("filewatch: the watcher closed")
			}
			// An overflow lost events: read the files again anyway.
			w.log.Warn("watching files for changes", "err", err)
			change()
		case <-quiet.C:
			report(false)
		case <-longest.C:
			report(false)
		}
	}
}
