package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// grower tells a follower when the file it follows may have grown.
type grower interface {
	// Wait returns nil when the file may have grown (or a while passed),
	// errWoken after Wake, or the error that ends following.
	Wait() error
	// Wake makes Wait return errWoken, now or at its next call.
	Wake()
	Close() error
}

// errWoken is a grower's Wait after Wake.
var errWoken = errors.New("follower woken")

// followFile copies path from offset to w, then waits for it to grow
// (watchGrowth: inotify on Linux, a change notification on Windows) and
// copies what was added, until done closes or ctx ends.
func followFile(ctx context.Context, done <-chan struct{}, path string, offset int64, w io.Writer) error {
	f, err := openAt(path, offset)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	g, err := watchGrowth(path)
	if err != nil {
		_, _ = io.Copy(w, f)
		return fmt.Errorf("follow %s: %w", path, err)
	}
	defer g.Close()
	return follow(ctx, done, f, g, w)
}

// follow copies f to w each time g says it may have grown, from its
// start again when it shrank (rotated: copied, then truncated), until
// done closes or ctx ends; then it copies what was written last.
func follow(ctx context.Context, done <-chan struct{}, f *os.File, g grower, w io.Writer) error {
	stop := context.AfterFunc(ctx, g.Wake)
	defer stop()
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		select {
		case <-done:
			g.Wake()
		case <-ctx.Done():
		case <-quit:
		}
	}()
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		if off, err := f.Seek(0, io.SeekCurrent); err == nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < off {
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
				continue
			}
		}
		if err := g.Wait(); err != nil {
			// Stopped: copy what was written last, then end.
			_, _ = io.Copy(w, f)
			if errors.Is(err, errWoken) {
				return nil
			}
			return err
		}
	}
}
