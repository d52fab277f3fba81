package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// followFile copies path from offset to w, then waits on inotify for it
// to grow and copies what was added, until done closes or ctx ends.
func followFile(ctx context.Context, done <-chan struct{}, path string, offset int64, w io.Writer) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("follow %s: %w", path, err)
	}
	// A non-blocking file joins Go's poller, so a deadline wakes a read.
	events := os.NewFile(uintptr(fd), "inotify")
	defer events.Close()
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		return fmt.Errorf("follow %s: %w", path, err)
	}
	stop := context.AfterFunc(ctx, func() { events.SetReadDeadline(time.Now()) })
	defer stop()
	go func() {
		select {
		case <-done:
			events.SetReadDeadline(time.Now())
		case <-ctx.Done():
		}
	}()
	buf := make([]byte, 4096)
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		// Rotated (copied, then truncated): read on from the start.
		if off, err := f.Seek(0, io.SeekCurrent); err == nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < off {
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
				continue
			}
		}
		if _, err := events.Read(buf); err != nil {
			// Stopped: copy what was written last, then end.
			_, _ = io.Copy(w, f)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
	}
}
