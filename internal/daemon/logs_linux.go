package daemon

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// inotifyGrower waits on inotify for a file's IN_MODIFY.
type inotifyGrower struct {
	events *os.File
	buf    []byte
}

// watchGrowth watches path with inotify.
func watchGrowth(path string) (grower, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// A non-blocking file joins Go's poller, so a deadline wakes a read.
	events := os.NewFile(uintptr(fd), "inotify")
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY); err != nil {
		events.Close()
		return nil, err
	}
	return &inotifyGrower{events: events, buf: make([]byte, 4096)}, nil
}

func (g *inotifyGrower) Wait() error {
	_, err := g.events.Read(g.buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errWoken
	}
	return err
}

func (g *inotifyGrower) Wake()        { g.events.SetReadDeadline(time.Now()) }
func (g *inotifyGrower) Close() error { return g.events.Close() }
