package filewatch_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/shoalproject/shoal/internal/filewatch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait; it is never a timing assertion.
const testTimeout = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// watch runs a watcher of paths until the test ends; its calls arrive
// on the channel (true: asked by a kick).
func watch(t *testing.T, debounce time.Duration, kick <-chan struct{}, paths ...string) <-chan bool {
	t.Helper()
	w, err := filewatch.New(debounce, quiet)
	if err != nil {
		t.Fatal(err)
	}
	w.Watch(paths)
	calls := make(chan bool, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, kick, func(asked bool) {
			// Before the call is seen: a test that changes a file
			// once it has it needs the folder watched again.
			w.Watch(paths) // links may point elsewhere now
			calls <- asked
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return calls
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// await waits for one call and returns it.
func await(t *testing.T, calls <-chan bool, what string) bool {
	t.Helper()
	select {
	case asked := <-calls:
		return asked
	case <-time.After(testTimeout):
		t.Fatalf("no call after %s", what)
		return false
	}
}

// Every way a file is replaced is seen: written in place, a new file
// renamed onto it, removed and created again, and a Kubernetes-style
// volume whose ..data link is swapped to a new folder (the file itself,
// a link through ..data, gets no event).
func TestChangesAreSeen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(t *testing.T, dir string) string // returns the watched path
		change func(t *testing.T, dir string)
	}{
		{"written in place",
			func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "f"), "a")
				return filepath.Join(dir, "f")
			},
			func(t *testing.T, dir string) { write(t, filepath.Join(dir, "f"), "b") }},
		{"renamed into place",
			func(t *testing.T, dir string) string {
				write(t, filepath.Join(dir, "f"), "a")
				return filepath.Join(dir, "f")
			},
			func(t *testing.T, dir string) {
				write(t, filepath.Join(dir, ".f.swp"), "b")
				if err := os.Rename(filepath.Join(dir, ".f.swp"), filepath.Join(dir, "f")); err != nil {
					t.Fatal(err)
				}
			}},
		{"created after it was missing",
			func(t *testing.T, dir string) string { return filepath.Join(dir, "f") },
			func(t *testing.T, dir string) { write(t, filepath.Join(dir, "f"), "b") }},
		{"kubernetes link swap",
			func(t *testing.T, dir string) string {
				mustDo(t, os.Mkdir(filepath.Join(dir, "..v1"), 0o700))
				write(t, filepath.Join(dir, "..v1", "f"), "a")
				mustDo(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
				mustDo(t, os.Symlink(filepath.Join("..data", "f"), filepath.Join(dir, "f")))
				return filepath.Join(dir, "f")
			},
			func(t *testing.T, dir string) {
				mustDo(t, os.Mkdir(filepath.Join(dir, "..v2"), 0o700))
				write(t, filepath.Join(dir, "..v2", "f"), "b")
				mustDo(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
				mustDo(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
				mustDo(t, os.RemoveAll(filepath.Join(dir, "..v1")))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			calls := watch(t, 10*time.Millisecond, nil, tc.setup(t, dir))
			tc.change(t, dir)
			if asked := await(t, calls, tc.name); asked {
				t.Error("a file change was reported as asked for")
			}
		})
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A burst of changes is reported once, after the folder has been quiet
// for the delay; a kick is reported at once.
func TestBurstIsOneCallAndKickIsAtOnce(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	write(t, f, "0")
	kick := make(chan struct{})
	const debounce = 300 * time.Millisecond
	calls := watch(t, debounce, kick, f)
	start := time.Now()
	for i := range 20 {
		write(t, f, string(rune('a'+i)))
	}
	if asked := await(t, calls, "a burst"); asked {
		t.Error("the burst was reported as asked for")
	}
	if d := time.Since(start); d < debounce {
		t.Errorf("reported %s after the burst began, before the %s delay", d, debounce)
	}
	select {
	case <-calls:
		t.Error("one burst was reported twice")
	case <-time.After(3 * debounce):
	}
	kick <- struct{}{}
	if asked := await(t, calls, "a kick"); !asked {
		t.Error("a kick was not reported as asked for")
	}
}

// Dirs follows a link to its target's folder.
func TestDirsFollowLinks(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write(t, filepath.Join(b, "f"), "x")
	mustDo(t, os.Symlink(filepath.Join(b, "f"), filepath.Join(a, "f")))
	got := filepath.Join(a, "f")
	dirs := filepath.Join(filepath.Dir(got))
	out := filewatch.Dirs(got)
	realB, _ := filepath.EvalSymlinks(b)
	if len(out) != 2 || out[0] != dirs || out[1] != realB {
		t.Errorf("Dirs(%s) = %v, want [%s %s]", got, out, dirs, realB)
	}
}

// A folder that does not exist is skipped, not fatal.
func TestMissingFolderIsSkipped(t *testing.T) {
	calls := watch(t, 10*time.Millisecond, nil, "/nonexistent/dir/f")
	select {
	case <-calls:
		t.Error("a call without a change")
	case <-time.After(50 * time.Millisecond):
	}
}

// A folder removed and made again is watched again at the next Watch:
// after a kick (SIGHUP), its changes are seen.
func TestRemovedFolderIsWatchedAgain(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "d")
	mustDo(t, os.Mkdir(dir, 0o700))
	f := filepath.Join(dir, "f")
	write(t, f, "a")
	kick := make(chan struct{})
	calls := watch(t, 50*time.Millisecond, kick, f)
	mustDo(t, os.RemoveAll(dir))
	if asked := await(t, calls, "the folder's removal"); asked {
		t.Error("the removal was reported as asked for")
	}
	mustDo(t, os.Mkdir(dir, 0o700))
	kick <- struct{}{}
	if asked := await(t, calls, "a kick"); !asked {
		t.Error("the kick was not reported as asked for")
	}
	write(t, f, "b")
	if asked := await(t, calls, "a write in the folder made again"); asked {
		t.Error("the write was reported as asked for")
	}
}

// A folder that never goes quiet (another file in it written more often
// than the delay, a log) does not hold a change back for ever: it is
// reported at most maxWait delays after the burst began, while the
// writes go on.
func TestBusyFolderIsReportedAnyway(t *testing.T) {
	dir := t.TempDir()
	f, busy := filepath.Join(dir, "f"), filepath.Join(dir, "busy.log")
	write(t, f, "0")
	const debounce = 50 * time.Millisecond
	calls := watch(t, debounce, nil, f)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(debounce / 5):
				_ = os.WriteFile(busy, []byte{byte('a' + i%26)}, 0o600)
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	write(t, f, "1")
	select {
	case <-calls:
	case <-time.After(testTimeout):
		t.Fatal("no call while another file of the folder is written every 10ms")
	}
}
