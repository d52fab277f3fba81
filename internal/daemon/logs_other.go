//go:build !linux

package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// followFile copies path from offset to w, then fails: following a file
// as it grows is done with inotify, which only Linux has.
func followFile(_ context.Context, _ <-chan struct{}, path string, offset int64, w io.Writer) error {
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
	if _, err := io.Copy(w, f); err != nil {
		return err
	}
	return fmt.Errorf("follow %s: following a task's output is Linux only: %w", path, errors.ErrUnsupported)
}
