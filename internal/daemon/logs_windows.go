package daemon

import (
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/windows"
)

// changeBackstop bounds a wait for a change notification: NTFS updates a
// file's size in its folder's entry lazily while a writer holds it open
// (the task's own stdout.log), so FILE_NOTIFY_CHANGE_SIZE and _LAST_WRITE
// may come late or not until the writer closes. A follower looks again
// after this long even without one.
const changeBackstop = time.Second

// changeGrower waits on a change notification for the file's folder, or
// on its wake event.
type changeGrower struct {
	mu     sync.Mutex
	change windows.Handle // FindFirstChangeNotification
	wake   windows.Handle // manual-reset event, set by Wake
	closed bool
}

// watchGrowth watches the folder of path for files growing or written.
func watchGrowth(path string) (grower, error) {
	change, err := windows.FindFirstChangeNotification(filepath.Dir(path), false,
		windows.FILE_NOTIFY_CHANGE_SIZE|windows.FILE_NOTIFY_CHANGE_LAST_WRITE)
	if err != nil {
		return nil, fmt.Errorf("FindFirstChangeNotification: %w", err)
	}
	wake, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		_ = windows.FindCloseChangeNotification(change)
		return nil, fmt.Errorf("CreateEvent: %w", err)
	}
	return &changeGrower{change: change, wake: wake}, nil
}

func (g *changeGrower) Wait() error {
	// The wake event first: when both are set, stopping wins.
	ev, err := windows.WaitForMultipleObjects([]windows.Handle{g.wake, g.change}, false, uint32(changeBackstop.Milliseconds()))
	switch {
	case err != nil:
		return fmt.Errorf("WaitForMultipleObjects: %w", err)
	case ev == windows.WAIT_OBJECT_0:
		return errWoken
	case ev == windows.WAIT_OBJECT_0+1:
		// Re-armed for the next change.
		if err := windows.FindNextChangeNotification(g.change); err != nil {
			return fmt.Errorf("FindNextChangeNotification: %w", err)
		}
		return nil
	case ev == uint32(windows.WAIT_TIMEOUT):
		return nil
	}
	return fmt.Errorf("WaitForMultipleObjects: unexpected result %#x", ev)
}

// Wake sets the wake event, unless the grower was closed (its handle
// value may be another object's by then).
func (g *changeGrower) Wake() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		_ = windows.SetEvent(g.wake)
	}
}

func (g *changeGrower) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	err := windows.FindCloseChangeNotification(g.change)
	if cerr := windows.CloseHandle(g.wake); err == nil {
		err = cerr
	}
	return err
}
